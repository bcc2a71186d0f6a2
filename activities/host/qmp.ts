import { createConnection, Socket } from 'node:net';

type Msg = { return?: unknown; error?: { class: string; desc: string }; event?: string; data?: unknown; id?: number; QMP?: unknown };

/** A minimal QMP client over a unix socket: commands in order, events to a listener. */
export class Qmp {
  private buf = '';
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(private sock: Socket, private onEvent: (m: Msg) => void) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let nl;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (line) this.dispatch(JSON.parse(line));
      }
    });
    sock.on('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('QMP connection closed'));
      this.pending.clear();
    });
  }

  static async connect(path: string, onEvent: (m: Msg) => void = () => {}, timeoutMs = 10_000): Promise<Qmp> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = createConnection(path, () => resolve(s));
          s.once('error', reject);
        });
        const qmp = new Qmp(sock, onEvent);
        await qmp.execute('qmp_capabilities');
        return qmp;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private dispatch(m: Msg) {
    if (m.event) return this.onEvent(m);
    if (m.id === undefined) return; // the greeting
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.error) p.reject(new Error(`QMP ${m.error.class}: ${m.error.desc}`));
    else p.resolve(m.return);
  }

  execute<T = unknown>(command: string, args?: object): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.sock.write(JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id }) + '\n');
    });
  }

  close() {
    this.sock.destroy();
  }
}
