import { createApp } from '../../api/app';

/** Every route of the API as mounted by createApp: `METHOD /path/:param` (static files and other middleware are not routes). */
export function enumerateRoutes(): string[] {
  const app = createApp({ pool: {} as never, temporal: {} as never }) as unknown as { router: { stack: Layer[] } };
  interface Layer { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] }; rawPath?: string }
  const out: string[] = [];
  const walk = (stack: Layer[], prefix: string) => {
    for (const l of stack) {
      if (l.route) for (const m of Object.keys(l.route.methods).filter((m) => m !== '_all')) out.push(`${m.toUpperCase()} ${prefix}${l.route.path}`);
      else if (l.handle?.stack) walk(l.handle.stack, prefix + (l.rawPath && l.rawPath !== '/' ? l.rawPath : ''));
    }
  };
  walk(app.router.stack, '');
  return [...new Set(out)].sort();
}
