# SPDX-License-Identifier: MIT
# complete_line LINE: what bash completes for LINE (the cursor at its end) with the real
# bash-completion framework and completions/mbctl.bash: the offered words, sorted, on one line.
# Sourced by test-mbctl-completion.sh (offline) and the completion-against-daemon scenario.
# The framework is not written for `set -eu`: source this where they are off.

_mbup_completion_src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[[ -r /usr/share/bash-completion/bash_completion ]] || { echo "bash-completion is not installed" >&2; return 1; }
# shellcheck disable=SC1091
source /usr/share/bash-completion/bash_completion
# shellcheck source=../../completions/mbctl.bash
source "$_mbup_completion_src/completions/mbctl.bash"

complete_line() {
        local line=$1
        COMP_LINE=$line
        COMP_POINT=${#line}
        # words as readline splits them here (no quoting in our lines); a trailing space starts an
        # empty word
        read -r -a COMP_WORDS <<<"$line"
        [[ $line == *' ' ]] && COMP_WORDS+=('')
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMPREPLY=()
        _mbctl "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]:-}"
        printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'
}
