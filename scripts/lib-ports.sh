# Shared by the scripts that start processes on loopback: pick free ports, never the same one twice.
# Source it; then `next_free_port START` prints the first port from START that is free and not yet handed out.

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

taken=" "
next_free_port() {
    local p="$1"
    while [[ "${taken}" == *" ${p} "* ]] || ! port_free "${p}"; do p=$((p + 1)); done
    taken="${taken}${p} "
    echo "${p}"
}

# `take_free_port VAR START` sets VAR to what next_free_port would print, in this shell, so that later calls
# (even before the port is bound) never hand it out again; `$(next_free_port ...)` runs in a subshell and
# cannot remember it.
take_free_port() {
    local p="$2"
    while [[ "${taken}" == *" ${p} "* ]] || ! port_free "${p}"; do p=$((p + 1)); done
    taken="${taken}${p} "
    printf -v "$1" '%s' "${p}"
}
