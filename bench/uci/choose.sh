# Shared by bench/uci/run_fit.sh and run_sgmcmc.sh (sourced, not run): scoring a setting on
# validation rows and comparing scores. Expects $uci (the runner), $data and $d (data set).

# Mean validation log-likelihood from the runner's table row; a run that fails prints no row,
# and its score is -inf.
row_ll() { awk -F'|' '{split($6, a, " "); print a[1]} END {if (NR == 0) print "-inf"}'; }

# Whether score $1 beats score $2 (either may be -inf).
better() {
    awk -v a="$1" -v b="$2" 'BEGIN {if (a == "-inf") a = -1e300; if (b == "-inf") b = -1e300;
        exit !(a > b)}'
}

# validate LABEL OUT RUNNER-ARGS...: runs splits 0 and 1 on validation rows (the last 20 % of
# their training rows), writing to OUT; prints "LABEL: validation LL x" on stderr, x on stdout.
validate() {
    local label=$1 out=$2 row ll
    shift 2
    row=$("$uci" --data-dir "$data" --dataset "$d" "$@" --splits 2 --validate --out "$out" \
        2>/dev/null) || true
    ll=$(echo "$row" | { grep '^|' || true; } | row_ll)
    echo "$d $label: validation LL $ll" >&2
    echo "$ll"
}
