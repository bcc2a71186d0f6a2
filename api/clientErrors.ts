import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';

/** What Node's HTTP parser refused, as our JSON error: status, and the part of the request at fault. */
function describe(err: NodeJS.ErrnoException & { rawPacket?: Buffer }): { status: number; field: string; message: string } {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    // The limit covers the request line and the headers; a request line not yet complete is the long one.
    const head = err.rawPacket?.toString('latin1') ?? '';
    const inRequestLine = head !== '' && !head.includes('\r\n');
    const field = inRequestLine ? (head.includes('?') ? 'query' : 'path') : 'headers';
    return { status: 431, field, message: `${field}: the request line and headers are too large; send long input in a JSON body` };
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, field: 'request', message: 'request: not received in time' };
  return { status: 400, field: 'request', message: `request: malformed HTTP (${err.code ?? err.message})` };
}

/**
 * Node answers a request its parser refuses (e.g. a 1 MB query string: 431) itself, with an empty body,
 * before Express sees it. This answers those with the same JSON error as every other refusal.
 */
export function answerClientErrorsAsJson(server: Server): Server {
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
    const { status, field, message } = describe(err);
    const body = JSON.stringify({ error: { status, message, field } });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
  return server;
}
