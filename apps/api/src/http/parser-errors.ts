import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';

type ParserError = Error & { code?: string };

/** Status, code and message for what Node's HTTP parser refused. */
function refusal(code: string | undefined): [number, string, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, 'headers_too_large', 'The request line and headers are larger than the server accepts (16 KB)'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'request_timeout', 'The request line and headers did not arrive in time'];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, 'payload_too_large', 'The chunk extensions of the request body are too large'];
    default:
      return [400, 'malformed_request', `The request is not valid HTTP/1.1 (${code ?? 'unknown'}): the request line (a control character or a space in the path?) or a header`];
  }
}

/**
 * Requests Node's HTTP parser refuses before Express sees them (a control character in the
 * path, headers over the size limit, headers that never finish) get the native error body,
 * `{"error": {"code", "message"}, "detail"}`, with a stable code, instead of a bare status line. As
 * Node's own handler does, nothing is written on a reset connection or after a response began.
 */
export function answerParserErrors(server: Server): void {
  server.on('clientError', (err: ParserError, socket: Socket) => {
    const started = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
    if (err.code === 'ECONNRESET' || !socket.writable || started) return void socket.destroy();
    const [status, code, message] = refusal(err.code);
    const body = JSON.stringify({ error: { code, message }, detail: message });
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
        'content-type: application/json; charset=utf-8\r\n' +
        `content-length: ${Buffer.byteLength(body)}\r\n` +
        'connection: close\r\n\r\n' +
        body,
    );
  });
}
