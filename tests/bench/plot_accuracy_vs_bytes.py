#!/usr/bin/env python3
"""Summary table and SVG plot for tests/bench/accuracy_vs_bytes.sh (standard library only).

Usage: plot_accuracy_vs_bytes.py CSV [--out-dir DIR] [--summary PATH] [--runs RUNS_TSV]

CSV columns: partition,preset,round,accuracy,loss,bytes_up_raw,bytes_up_wire,
bytes_down_raw,bytes_down_wire,cum_up_wire,cum_down_wire,duration_ms (accuracy may be empty).
For each partition writes DIR/accuracy_vs_upload_<partition>.svg: test accuracy against
cumulative upload wire bytes, log-scale x, one line per preset. With --summary, writes a
markdown table per partition; ratios and deltas are against the preset `none` (dense FedAvg)
of the same partition. RUNS_TSV (partition, setting, command per line) adds how each was made.
"""
import argparse
import csv
import html
import math
import os
import re
import sys
from collections import OrderedDict

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
          "#17becf", "#7f7f7f", "#bcbd22"]
DENSE = "none"


def load(path):
    """partition -> preset -> list of row dicts sorted by round (insertion order kept)."""
    data = OrderedDict()
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            row = {"round": int(r["round"]),
                   "accuracy": float(r["accuracy"]) if r["accuracy"] not in ("", None) else None,
                   "loss": float(r["loss"]) if r["loss"] not in ("", None) else None}
            for k in ("bytes_up_raw", "bytes_up_wire", "bytes_down_raw", "bytes_down_wire",
                      "cum_up_wire", "cum_down_wire", "duration_ms"):
                row[k] = int(r[k])
            data.setdefault(r["partition"], OrderedDict()).setdefault(r["preset"], []).append(row)
    for presets in data.values():
        for rows in presets.values():
            rows.sort(key=lambda x: x["round"])
    return data


def human_bytes(n):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            v = n / scale
            return ("%.0f %s" if v >= 100 else "%.1f %s" if v >= 10 else "%.2f %s") % (v, unit)
    return "%d B" % n


def decade_label(d):
    units = ["B", "kB", "MB", "GB", "TB"]
    i = min(max(d // 3, 0), len(units) - 1)
    return "%d %s" % (10 ** (d - 3 * i), units[i]) if d >= 0 else "%g B" % 10 ** d


def stats(rows):
    accs = [r["accuracy"] for r in rows if r["accuracy"] is not None]
    final = next((r["accuracy"] for r in reversed(rows) if r["accuracy"] is not None), None)
    return {"rounds": len(rows), "final": final, "best": max(accs) if accs else None,
            "up": sum(r["bytes_up_wire"] for r in rows), "down": sum(r["bytes_down_wire"] for r in rows),
            "up_raw": sum(r["bytes_up_raw"] for r in rows),
            "down_raw": sum(r["bytes_down_raw"] for r in rows),
            "seconds": sum(r["duration_ms"] for r in rows) / 1000.0}


def pct(a):
    return "n/a" if a is None else "%.2f%%" % (100 * a)


def ratio(dense, x):
    if dense is None or not x:
        return "n/a"
    v = dense / x
    return ("%.0f×" if v >= 100 else "%.1f×" if v >= 10 else "%.2f×") % v


def write_summary(data, path, runs, plot_dir="."):
    out = ["# Accuracy versus bytes", "",
           "Made by `tests/bench/accuracy_vs_bytes.sh` (see tests/bench/README.md). "
           "Bytes are wire bytes (ZeroMQ frames: envelope + payload) summed over the committed "
           "rounds; ratios are dense (`none`) bytes divided by the preset's bytes; Δ accuracy is the "
           "final test accuracy minus dense FedAvg's, in percentage points.", ""]
    for part, presets in data.items():
        out += ["## Partition `%s`" % part, ""]
        if part in runs:
            setting, command = runs[part]
            out += ["%s." % setting, "", "```sh", command, "```", ""]
        dense = stats(presets[DENSE]) if DENSE in presets else None
        out += ["| preset | rounds | final accuracy | best accuracy | total up | total down "
                "| up ratio vs dense | down ratio vs dense | Δ accuracy vs dense (points) | train+eval time |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        meets = []
        for preset, rows in presets.items():
            s = stats(rows)
            if dense and s["final"] is not None and dense["final"] is not None:
                delta = 100 * (s["final"] - dense["final"])
                dtxt = "%+.2f" % delta
            else:
                delta, dtxt = None, "n/a"
            out.append("| `%s` | %d | %s | %s | %s | %s | %s | %s | %s | %.0f s |" % (
                preset, s["rounds"], pct(s["final"]), pct(s["best"]),
                "%s (%d B)" % (human_bytes(s["up"]), s["up"]),
                "%s (%d B)" % (human_bytes(s["down"]), s["down"]),
                ratio(dense and dense["up"], s["up"]), ratio(dense and dense["down"], s["down"]),
                dtxt, s["seconds"]))
            if preset != DENSE and dense and delta is not None:
                meets.append((preset, dense["up"] / s["up"] if s["up"] else 0,
                              dense["down"] / s["down"] if s["down"] else 0, delta))
        out.append("")
        if dense is None:
            out += ["No dense (`none`) run for this partition: ratios and deltas are n/a.", ""]
        else:
            iid = part == "iid" or part.startswith("iid-")  # e.g. "iid-seed2"
            up_min, pts = (100, 1.0) if iid else (50, 2.0)
            ok = [m for m in meets if m[1] >= up_min and m[3] >= -pts]
            down_ok = [m for m in ok if m[2] >= 8]
            out.append("Issue 3 target for this partition: upload ≥ %d× smaller than dense with final "
                       "accuracy within %.1f point%s; download ≥ 8× smaller. Met by: %s." % (
                           up_min, pts, "" if pts == 1 else "s",
                           ", ".join("`%s` (%.0f× up, %.1f× down, %+.2f points)" % m for m in down_ok)
                           or "no preset" + (" (upload and accuracy met by %s; download not)" %
                                        ", ".join("`%s`" % m[0] for m in ok) if ok else "")))
            out.append("")
        svg = "accuracy_vs_upload_%s.svg" % slug(part)
        link = svg if plot_dir in (".", "") else plot_dir + "/" + svg
        out += ["Plot: [%s](%s)" % (svg, link), ""]
    with open(path, "w") as f:
        f.write("\n".join(out))


def slug(s):
    return re.sub(r"[^A-Za-z0-9._-]", "_", s)


def nice_step(span, target=6):
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def plot(part, presets, path, subtitle):
    W, H = 900, 560
    L, R, T, B = 80, 250, 70, 70  # margins; the legend sits in the right margin
    pw, ph = W - L - R, H - T - B
    pts = {p: [(r["cum_up_wire"], 100 * r["accuracy"]) for r in rows
               if r["accuracy"] is not None and r["cum_up_wire"] > 0]
           for p, rows in presets.items()}
    xs = [x for v in pts.values() for x, _ in v]
    ys = [y for v in pts.values() for _, y in v]
    if not xs:
        xs, ys = [1e3, 1e6], [0, 100]
    lx0 = math.floor(math.log10(min(xs)))
    lx1 = math.ceil(math.log10(max(xs)))
    if lx1 <= lx0:
        lx1 = lx0 + 1
    ylo, yhi = min(ys), max(ys)
    if yhi - ylo < 1:
        ylo, yhi = ylo - 0.5, yhi + 0.5
    ystep = nice_step(yhi - ylo)
    y0 = max(0.0, math.floor(ylo / ystep) * ystep)
    y1 = min(100.0, math.ceil(yhi / ystep) * ystep)
    if y1 <= y0:
        y1 = y0 + ystep

    def X(x):
        return L + (math.log10(x) - lx0) / (lx1 - lx0) * pw

    def Y(y):
        return T + (y1 - y) / (y1 - y0) * ph

    e = html.escape
    s = ['<?xml version="1.0" encoding="UTF-8"?>',
         '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
         'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">' % (W, H, W, H),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="28" font-size="17" font-weight="bold">Test accuracy vs cumulative upload bytes '
         '— partition %s</text>' % (L, e(part))]
    if subtitle:
        s.append('<text x="%d" y="48" font-size="12" fill="#444">%s</text>' % (L, e(subtitle)))
    # grid and ticks: x decades (major, labelled) and 2..9 (minor)
    for d in range(lx0, lx1 + 1):
        x = X(10 ** d)
        s.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ccc"/>' % (x, T, x, T + ph))
        s.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000"/>' % (x, T + ph, x, T + ph + 6))
        s.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, T + ph + 20, decade_label(d)))
        if d < lx1:
            for m in range(2, 10):
                xm = X(m * 10 ** d)
                s.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>' % (xm, T, xm, T + ph))
                s.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000"/>' % (xm, T + ph, xm, T + ph + 3))
    k = 0
    while True:
        y = y0 + k * ystep
        if y > y1 + 1e-9:
            break
        yy = Y(y)
        s.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ccc"/>' % (L, yy, L + pw, yy))
        s.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#000"/>' % (L - 6, yy, L, yy))
        s.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 9, yy + 4, ("%g" % round(y, 3))))
        k += 1
    s.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#000"/>' % (L, T, pw, ph))
    s.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="13">cumulative upload bytes '
             '(wire, all clients; log scale)</text>' % (L + pw / 2, H - 22))
    s.append('<text transform="translate(24,%.1f) rotate(-90)" text-anchor="middle" font-size="13">'
             'test accuracy (%%)</text>' % (T + ph / 2))
    # lines
    s.append('<g fill="none" stroke-width="2" stroke-linejoin="round">')
    for i, (p, v) in enumerate(pts.items()):
        c = COLORS[i % len(COLORS)]
        if len(v) > 1:
            s.append('<polyline stroke="%s" points="%s"/>' % (
                c, " ".join("%.1f,%.1f" % (X(x), Y(y)) for x, y in v)))
        for x, y in v:
            s.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s" stroke="none"/>' % (X(x), Y(y), c))
    s.append('</g>')
    # legend
    lx, ly = L + pw + 20, T + 10
    s.append('<text x="%d" y="%d" font-weight="bold">preset (final acc., total up)</text>' % (lx, ly))
    for i, (p, rows) in enumerate(presets.items()):
        c = COLORS[i % len(COLORS)]
        st = stats(rows)
        yy = ly + 22 + 22 * i
        s.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>' % (lx, yy - 4, lx + 24, yy - 4, c))
        s.append('<circle cx="%d" cy="%d" r="3" fill="%s"/>' % (lx + 12, yy - 4, c))
        label = "%s%s  %s, %s" % (p, " (dense)" if p == DENSE else "", pct(st["final"]), human_bytes(st["up"]))
        s.append('<text x="%d" y="%d">%s</text>' % (lx + 32, yy, e(label)))
    s.append('</svg>')
    with open(path, "w") as f:
        f.write("\n".join(s) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--out-dir", default=None, help="where the SVGs go (default: next to the CSV)")
    ap.add_argument("--summary", default=None, help="also write this markdown summary")
    ap.add_argument("--runs", default=None, help="TSV: partition, setting, command")
    a = ap.parse_args()
    data = load(a.csv)
    if not data:
        sys.exit("plot_accuracy_vs_bytes: %s has no rows" % a.csv)
    runs = {}
    if a.runs and os.path.exists(a.runs):
        with open(a.runs) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3:
                    runs[parts[0]] = (parts[1], parts[2])
    out_dir = a.out_dir or os.path.dirname(os.path.abspath(a.csv))
    os.makedirs(out_dir, exist_ok=True)
    for part, presets in data.items():
        plot(part, presets, os.path.join(out_dir, "accuracy_vs_upload_%s.svg" % slug(part)),
             runs.get(part, ("", ""))[0])
    if a.summary:
        write_summary(data, a.summary, runs,
                      os.path.relpath(out_dir, os.path.dirname(os.path.abspath(a.summary))))


if __name__ == "__main__":
    main()
