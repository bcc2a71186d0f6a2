import { rewriteDomainXml } from '../../vmDefinition';
import { attrsOf, buildTree, el, elements, kids, parseTree, tagOf, type XNode } from './xmlTree';

/** Device kinds that reach outside the VM (the network, host devices and folders, smart cards, USB redirection): never in a validation VM. */
const DROPPED_DEVICES = new Set(['interface', 'hostdev', 'filesystem', 'redirdev', 'smartcard', 'shmem']);
/** Character devices that would use a host path or port of the production VM: made ptys instead. */
const CHARDEVS = new Set(['serial', 'console', 'parallel']);

/**
 * A backup's saved domain XML made into its throwaway validation VM: a new name and UUID, each disk the
 * given overlay (qcow2), no network interfaces (it must never meet the production VM's MAC or IP),
 * nothing of the host passed through, the guest agent channel kept with a socket path libvirt picks
 * (unique per domain), graphics on a free port of 127.0.0.1, the serial console logged to `consoleLog`,
 * and, for a screenshot, a VGA display if the domain has none (there is nothing to take a picture of otherwise).
 */
export function validationDomainXml(input: {
  xml: string;
  name: string;
  uuid: string;
  overlays: Record<string, string>;
  consoleLog: string;
  needsDisplay: boolean;
}): string {
  const formats = Object.fromEntries(Object.keys(input.overlays).map((t) => [t, 'qcow2']));
  const { xml } = rewriteDomainXml(input.xml, input.name, input.uuid, input.overlays, formats);
  const tree = parseTree(xml);
  const dom = kids(elements(tree, 'domain')[0]);
  for (const devices of elements(dom, 'devices')) {
    const list = kids(devices);
    for (let i = list.length - 1; i >= 0; i--) {
      const n = list[i];
      const tag = tagOf(n);
      if (DROPPED_DEVICES.has(tag)) list.splice(i, 1);
      else if (tag === 'disk') dropSourceUnlessOverlay(n);
      else if (tag === 'channel') channelWithoutHostPath(n, list, i);
      else if (CHARDEVS.has(tag)) asPty(n, tag);
      else if (tag === 'graphics') freshGraphics(n);
    }
    const serial = elements(list, 'serial')[0];
    if (serial) serial.serial = [el('log', { '@_file': input.consoleLog, '@_append': 'off' }), ...kids(serial)];
    if (input.needsDisplay && !elements(list, 'video').length) list.push(el('video', {}, [el('model', { '@_type': 'vga' })]));
  }
  return buildTree(tree);
}

/** A cdrom or floppy keeps its drive but not the production VM's image (overlays are the only files). */
function dropSourceUnlessOverlay(n: XNode) {
  const a = attrsOf(n);
  if (['disk', 'lun'].includes(a['@_device'] ?? 'disk')) return;
  n.disk = kids(n).filter((k) => !['source', 'backingStore'].includes(tagOf(k)));
  a['@_type'] = 'file';
}

/** The guest agent (and other virtio channels) keep their target; the socket path is left to libvirt; spice and other host-side channels go. */
function channelWithoutHostPath(n: XNode, list: XNode[], i: number) {
  const a = attrsOf(n);
  if (a['@_type'] !== 'unix') {
    if (a['@_type'] !== 'spicevmc') list.splice(i, 1);
    return;
  }
  n.channel = kids(n).filter((k) => tagOf(k) !== 'source');
}

/** A serial port or console on a pty of its own (never the production VM's log file, socket or port). */
function asPty(n: XNode, tag: string) {
  attrsOf(n)['@_type'] = 'pty';
  n[tag] = kids(n).filter((k) => ['target', 'alias', 'address'].includes(tagOf(k)));
}

/** VNC or SPICE on a free port, listening on the loopback only, no password of the production VM's. */
function freshGraphics(n: XNode) {
  const a = attrsOf(n);
  const type = a['@_type'];
  for (const k of Object.keys(a)) if (k !== '@_type') delete a[k];
  if (type === 'vnc' || type === 'spice') {
    a['@_autoport'] = 'yes';
    a['@_listen'] = '127.0.0.1';
  }
  n.graphics = type === 'vnc' || type === 'spice' ? [el('listen', { '@_type': 'address', '@_address': '127.0.0.1' })] : [];
}
