/**
 * The chat in a browser: a terminal (xterm.js) that shows exactly the bytes a telnet
 * user gets, a line to type in with its history (Up, Down), the list of who is here
 * (who.js), and a WebSocket to /ws that comes back by itself, waiting longer after each
 * failed try, when the server restarts.
 */
import { Terminal } from '/xterm/xterm.mjs';
import { FitAddon } from '/xterm/addon-fit.mjs';
import { WhoList } from '/who.js';

/** The first wait before reconnecting, and the longest. */
const FIRST_RETRY_MS = 500;
const LAST_RETRY_MS = 15_000;
/** Lines kept for Up and Down. */
const HISTORY_LINES = 200;

const terminal = new Terminal({ disableStdin: true, scrollback: 5000, cursorBlink: false, fontSize: 14, theme: { background: '#000000' } });
const fit = new FitAddon();
terminal.loadAddon(fit);
terminal.open(document.getElementById('terminal'));
fit.fit();
new ResizeObserver(() => fit.fit()).observe(document.getElementById('terminal'));

const status = document.getElementById('status');
const input = document.getElementById('line');
const peopleList = document.getElementById('people');
const whoNote = document.getElementById('who-note');
const whoTitle = document.getElementById('who-title');
const whoRefresh = document.getElementById('who-refresh');

const who = new WhoList(showWho);

function showWho() {
  const { names, more, me, room } = who.list();
  whoTitle.textContent = room === '' ? 'Here' : `In ${room}`;
  peopleList.replaceChildren(
    ...names.map((name) => {
      const item = document.createElement('li');
      item.textContent = name;
      if (name === me) item.className = 'me';
      return item;
    }),
  );
  whoNote.textContent = more > 0 ? `and ${more} more` : '';
}

function setStatus(text, down) {
  status.textContent = text;
  status.classList.toggle('down', down);
}

// ------------------------------------------------------------ the connection

let socket = null;
let retryMs = FIRST_RETRY_MS;
const decoder = new TextDecoder();

function connect() {
  const url = new URL('/ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  setStatus('connecting…', false);
  socket = new WebSocket(url);
  socket.binaryType = 'arraybuffer'; // a server in --classic mode sends raw bytes
  socket.addEventListener('open', () => {
    retryMs = FIRST_RETRY_MS;
    who.reset();
    showWho();
    setStatus('connected', false);
  });
  socket.addEventListener('message', (event) => {
    if (typeof event.data !== 'string' && telnetEcho(new Uint8Array(event.data))) return;
    const text = typeof event.data === 'string' ? event.data : decoder.decode(event.data, { stream: true });
    terminal.write(text);
    who.feed(text);
  });
  socket.addEventListener('close', () => {
    socket = null;
    setSecret(false); // a new connection starts with no prompt
    // Jitter: after a restart, every page does not come back in the same millisecond.
    const wait = Math.round(retryMs * (0.75 + Math.random() * 0.5));
    setStatus(`disconnected; trying again in ${Math.ceil(wait / 1000)} s`, true);
    setTimeout(connect, wait);
    retryMs = Math.min(retryMs * 2, LAST_RETRY_MS);
  });
}

// ------------------------------------------------------------------ typing

/** Telnet's IAC WILL ECHO and IAC WONT ECHO (RFC 857), which the server sends around a password prompt. */
const WILL_ECHO = [255, 251, 1];
const WONT_ECHO = [255, 252, 1];
/** While the server asks for a password: the box hides what is typed, and the line is neither shown nor kept. */
let secret = false;

/** Whether `bytes` (a binary frame) are the server's echo command; if so, obeys it. */
function telnetEcho(bytes) {
  const is = (command) => bytes.length === command.length && command.every((byte, i) => bytes[i] === byte);
  if (!is(WILL_ECHO) && !is(WONT_ECHO)) return false;
  setSecret(is(WILL_ECHO));
  return true;
}

function setSecret(on) {
  secret = on;
  input.type = on ? 'password' : 'text';
  input.autocomplete = on ? 'current-password' : 'off';
  whoRefresh.disabled = on; // its /who would be taken as the password
}

const history = [];
let browsing = 0;
let draft = '';

/** A line as the terminal echoes it: control characters shown as ^X, as a terminal shows typed ones. */
function visible(line) {
  return line.replace(/[\x00-\x1f\x7f]/g, (c) => (c === '\x7f' ? '^?' : `^${String.fromCharCode(c.charCodeAt(0) + 64)}`));
}

function send(line) {
  if (socket === null || socket.readyState !== WebSocket.OPEN) {
    setStatus('not connected: the line was not sent', true);
    return;
  }
  socket.send(line);
  // A telnet client shows the line its user typed (the server does not send it back); not a password, whose line end the server sends.
  if (!secret) terminal.write(`${visible(line)}\r\n`);
  if (!secret && line !== '' && history[history.length - 1] !== line) history.push(line);
  if (history.length > HISTORY_LINES) history.shift();
  browsing = history.length;
  draft = '';
  input.value = '';
}

document.getElementById('say').addEventListener('submit', (event) => {
  event.preventDefault();
  send(input.value);
});

input.addEventListener('keydown', (event) => {
  if (event.key === 'ArrowUp' && browsing > 0) {
    if (browsing === history.length) draft = input.value;
    input.value = history[--browsing];
  } else if (event.key === 'ArrowDown' && browsing < history.length) {
    browsing++;
    input.value = browsing === history.length ? draft : history[browsing];
  } else {
    return;
  }
  event.preventDefault();
  input.setSelectionRange(input.value.length, input.value.length);
});

whoRefresh.addEventListener('click', () => {
  send('/who');
  input.focus();
});

connect();
input.focus();
