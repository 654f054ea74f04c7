"""Usage: python bench/stalled_bodies.py BIN [BIN ...]. For each mcp-edge binary: 100 connections announce a 4 MiB POST /mcp body with an API key configured, send what the socket
takes, then stall; prints the server's RSS before/peak and how many got an answer within 3 s."""
import pathlib, socket, subprocess, sys, tempfile, time


def run(BIN: str) -> None:
    h = subprocess.run([BIN, "hash-key", "k-123456"], capture_output=True, text=True).stdout.split("hash: ")[1].strip()
    d = tempfile.mkdtemp()
    p = subprocess.Popen([BIN, "--bind", "127.0.0.1:0", "--data-dir", d, "--api-key", f"a={h}"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = p.stdout.readline().strip().split("listening on http://")[1]
    host, port = url.split(":")
    rss = lambda: int([l for l in pathlib.Path(f"/proc/{p.pid}/status").read_text().splitlines() if l.startswith("VmRSS")][0].split()[1])
    before = rss(); peak = before; conns = []
    head = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 4194304\r\n\r\n"
    for _ in range(100):
        s = socket.create_connection((host, int(port))); s.sendall(head); s.setblocking(False)
        for _ in range(64):
            try: s.send(b" " * 65536)
            except OSError: break
        conns.append(s); peak = max(peak, rss())
    deadline = time.monotonic() + 3; answered = set()
    while time.monotonic() < deadline and len(answered) < 100:
        for i, s in enumerate(conns):
            if i in answered: continue
            try:
                if s.recv(64).startswith(b"HTTP/1.1 4"): answered.add(i)
            except BlockingIOError: pass
            except OSError: answered.add(i)
        peak = max(peak, rss()); time.sleep(0.05)
    print(f"{BIN}: RSS before {before} KiB, peak {peak} KiB; {len(answered)}/100 answered or closed within 3 s")
    p.terminate()
    try: p.wait(timeout=5)
    except subprocess.TimeoutExpired: p.kill()


for b in sys.argv[1:]:
    run(b)
