import { XMLBuilder, XMLParser } from 'fast-xml-parser';

/*
 * An order-preserving XML tree (fast-xml-parser preserveOrder), for rewriting a domain XML without
 * losing what is not touched: each node is { tag: children[], ':@': attrs }, attributes prefixed '@_'.
 */
export type XNode = Record<string, unknown>;
const XML_OPTS = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  commentPropName: '#comment',
  cdataPropName: '#cdata',
} as const;

export const parseTree = (xml: string) => new XMLParser(XML_OPTS).parse(xml) as XNode[];
export const buildTree = (tree: XNode[]) => new XMLBuilder({ ...XML_OPTS, format: false, suppressEmptyNode: true }).build(tree) as string;

export const tagOf = (n: XNode) => Object.keys(n).find((k) => k !== ':@')!;
export const kids = (n: XNode) => n[tagOf(n)] as XNode[];
export const attrsOf = (n: XNode) => ((n[':@'] ??= {}) as Record<string, string>);
export const elements = (list: XNode[], tag: string) => list.filter((n) => tagOf(n) === tag);
export const el = (tag: string, attrs: Record<string, string> = {}, children: XNode[] = []): XNode =>
  Object.keys(attrs).length ? { [tag]: children, ':@': attrs } : { [tag]: children };

export function setText(parent: XNode[], tag: string, text: string, after?: string) {
  const existing = elements(parent, tag)[0];
  if (existing) existing[tag] = [{ '#text': text }];
  else {
    const anchor = after ? parent.findIndex((n) => tagOf(n) === after) : -1;
    parent.splice(anchor + 1, 0, el(tag, {}, [{ '#text': text }]));
  }
}
