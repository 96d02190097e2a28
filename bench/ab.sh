#!/usr/bin/env bash
# A/B benchmark of two commits: builds each one's release binary (a git worktree and a target
# directory of its own under /var/tmp, kept for the next run), then runs bench/run.sh on them
# alternately, ROUNDS times each, and prints every endpoint's requests/s per build side by side.
# Alternating spreads the machine's drift over both builds.
#   bash bench/ab.sh 96a723b            # that commit against HEAD
#   bash bench/ab.sh 96a723b 2687b40    # two commits
#   ROUNDS=3 DURATION=10s bash bench/ab.sh 96a723b
set -euo pipefail
cd "$(dirname "$0")/.."
base_rev="$(git rev-parse --short "${1:?usage: bench/ab.sh BASE [HEAD]}")"
head_rev="$(git rev-parse --short "${2:-HEAD}")"
export DURATION="${DURATION:-8s}"
ROUNDS="${ROUNDS:-2}"

build() { # commit → path of its release binary
    local rev="$1" tree="/var/tmp/hotline-ab-$1"
    if [ ! -x "/var/tmp/hotline-ab-target-$rev/release/hotline" ]; then
        [ -d "$tree" ] || git worktree add --detach "$tree" "$rev" >/dev/null 2>&1
        (cd "$tree" && CARGO_TARGET_DIR="/var/tmp/hotline-ab-target-$rev" cargo build --release --quiet --bin hotline) >&2
    fi
    echo "/var/tmp/hotline-ab-target-$rev/release/hotline"
}
base_bin="$(build "$base_rev")"
head_bin="$(build "$head_rev")"

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for round in $(seq "$ROUNDS"); do
    for side in base head; do
        bin="$base_bin"; [ "$side" = head ] && bin="$head_bin"
        echo "round $round: $side" >&2
        BIN="$bin" bash bench/run.sh >"$out/$side-$round.txt"
    done
done

python3 - "$out" "$ROUNDS" "$base_rev" "$head_rev" <<'EOF'
import pathlib, sys
out, rounds, base, head = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
def table(path):
    rows = {}
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1].isdigit():
            rows[cells[0]] = int(cells[1])
    return rows
runs = {side: [table(out / f"{side}-{r}.txt") for r in range(1, rounds + 1)] for side in ("base", "head")}
print(f"\n| endpoint | {base} req/s | {head} req/s | change (medians) |")
print("|---|---:|---:|---:|")
for name in runs["base"][0]:
    b = sorted(r.get(name, 0) for r in runs["base"])
    h = sorted(r.get(name, 0) for r in runs["head"])
    mb, mh = b[len(b) // 2], h[len(h) // 2]
    change = f"{(mh - mb) / mb * 100:+.0f} %" if mb else "?"
    fmt = lambda xs: " / ".join(f"{x:,}" for x in xs)
    print(f"| `{name}` | {fmt(b)} | {fmt(h)} | {change} |")
EOF
