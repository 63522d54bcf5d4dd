#!/usr/bin/env python3
# pool_full.sh's writer: 1 MiB O_DIRECT writes device after device until
# the first error, then AFTER more at fresh offsets; prints what happened
# as JSON.
#   [AFTER=N] pool_full_writer.py DEVICE...
import json, mmap, os, sys, time
after = int(os.environ.get("AFTER", "20"))
buf = mmap.mmap(-1, 1 << 20)  # page-aligned, as O_DIRECT needs
buf.write(b"w" * (1 << 20))
ok, fails, errnos = 0, [], {}
for dev in sys.argv[1:]:
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)
    size = os.lseek(fd, 0, os.SEEK_END)
    for off in range(0, size, 1 << 20):
        start = time.monotonic()
        try:
            os.pwrite(fd, buf, off)
            ok += 1
        except OSError as e:
            fails.append((time.monotonic() - start) * 1000)
            errnos[e.strerror] = errnos.get(e.strerror, 0) + 1
        if len(fails) > after:
            break
    os.close(fd)
    if len(fails) > after:
        break
fails.sort()
p = lambda q: fails[min(len(fails) - 1, int(q * len(fails)))] if fails else 0
print(json.dumps({"ok_mib": ok, "failed": len(fails), "errnos": errnos,
                  "p50_ms": round(p(0.5), 1), "p99_ms": round(p(0.99), 1),
                  "max_ms": round(fails[-1], 1) if fails else 0}))
