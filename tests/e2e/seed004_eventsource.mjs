// Seed 004's SSE client, as its README writes it: a WHATWG `EventSource` (Node's, behind
// --experimental-eventsource) with `connected` and `heartbeat` listeners. Prints one JSON line per
// event it sees, then exits 0 after the `connected` event and `HEARTBEATS` heartbeats, or 1 when they
// do not arrive within `LIMIT_MS` (bounded).
// Usage: node --experimental-eventsource seed004_eventsource.mjs URL HEARTBEATS LIMIT_MS
const [url, heartbeats, limit] = process.argv.slice(2);
const wanted = Number(heartbeats);
const seen = { connected: null, heartbeats: [], messages: [], errors: 0 };
const eventSource = new EventSource(url);
const timer = setTimeout(() => {
  console.log(JSON.stringify(seen));
  eventSource.close();
  process.exit(1);
}, Number(limit));

eventSource.addEventListener('connected', (event) => {
  const data = JSON.parse(event.data);
  seen.connected = data;
});

eventSource.addEventListener('heartbeat', (event) => {
  seen.heartbeats.push(JSON.parse(event.data));
  if (seen.connected && seen.heartbeats.length >= wanted) {
    clearTimeout(timer);
    eventSource.close();
    console.log(JSON.stringify(seen));
    process.exit(0);
  }
});

eventSource.onmessage = (event) => { seen.messages.push(JSON.parse(event.data)); };
eventSource.onerror = () => { seen.errors += 1; };
