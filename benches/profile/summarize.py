"""Summarises a V8 .cpuprofile: top functions by self and by inclusive samples.

    python3 summarize.py PROFILE [N]
"""

import collections
import json
import sys


def main() -> None:
    profile = json.load(open(sys.argv[1]))
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {c: n["id"] for n in profile["nodes"] for c in n.get("children", [])}
    name = lambda nid: nodes[nid]["callFrame"]["functionName"] or "(anonymous)"
    counts = collections.Counter(profile["samples"])
    total = sum(counts.values())
    own, incl = collections.Counter(), collections.Counter()
    for nid, c in counts.items():
        own[name(nid)] += c
        seen, x = set(), nid
        while x is not None:
            if name(x) not in seen:
                incl[name(x)] += c
                seen.add(name(x))
            x = parent.get(x)
    print(f"{total} samples; idle {own.get('(idle)', 0)}, (program) {own.get('(program)', 0)}, GC {own.get('(garbage collector)', 0)}")
    for title, counter in (("self", own), ("inclusive", incl)):
        print(f"\n-- top {top} by {title} samples")
        for fn, c in counter.most_common(top):
            print(f"{c:7d} {100 * c / total:5.1f}%  {fn[:110]}")


if __name__ == "__main__":
    main()
