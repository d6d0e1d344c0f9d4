# Sourced by the callgrind scripts (scheduler-instructions.sh, real-peer-instructions.sh): for each of ROUNDS
# rounds, calls the script's `measure BIN LABEL` (which prints the run's instruction total) for every
# binary in turn, and prints the table with the total divided by TASKS_PER_RUN.
instructions_table() {
    echo "| round | binary | instructions | per task |"
    echo "|---|---|---|---|"
    local round i bin ir
    for round in $(seq 1 "$ROUNDS"); do
        i=0
        for bin in "$@"; do
            i=$((i + 1))
            ir=$(measure "$bin" "r${round}b$i")
            awk -v r="$round" -v b="$bin" -v ir="$ir" -v t="$TASKS_PER_RUN" \
                'BEGIN { printf "| %d | %s | %.1fM | %.0f |\n", r, b, ir / 1e6, ir / t }'
        done
    done
}
