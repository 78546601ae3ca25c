# SPDX-License-Identifier: MIT
# bash completion for mbctl(1): verbs, each verb's options, files for inspect, config check and
# --jar, backup ids for restore (from `mbctl backups --json`) and release versions for --to,
# rehearse and approve (from `mbctl list --json`). When the daemon cannot be reached, those
# complete nothing, quietly.

# _mbctl_json_values KEY MBCTL ARGS...: the string values of KEY in MBCTL's JSON output (flat
# objects, one key per line as json-c prints them), or nothing within 3 seconds.
_mbctl_json_values() {
        local key=$1
        shift
        timeout 3 "$@" 2>/dev/null |
                sed -n 's/^[[:space:]]*"'"$key"'"[[:space:]]*:[[:space:]]*"\([^"\\]*\)".*/\1/p'
}

_mbctl() {
        local cur prev words cword split
        _init_completion -s || return

        local mbctl=${words[0]}
        local verbs='status check list upgrade rollback cancel hold unhold history backup backups
                restore rehearse approve inspect config doctor fleet help'
        local i verb='' sub='' nargs=0

        # The verb is the first word that is not an option or an option's argument; options may
        # come before or after it (getopt_long permutes).
        for ((i = 1; i < cword; i++)); do
                case ${words[i]} in
                --jar | --to | --reason) ((i++)) ;;
                -*) ;;
                *)
                        if [[ -z $verb ]]; then
                                verb=${words[i]}
                        elif [[ -z $sub ]]; then
                                sub=${words[i]}
                                nargs=1
                        else
                                ((nargs++))
                        fi
                        ;;
                esac
        done

        case $prev in
        --jar)
                _filedir
                return
                ;;
        --to)
                COMPREPLY=($(compgen -W "$(_mbctl_json_values version "$mbctl" list --json)" -- "$cur"))
                return
                ;;
        --reason)
                return
                ;;
        esac
        $split && return

        local opts=''
        case $verb in
        '') opts='--help --version' ;;
        status | check | list | history | backups | doctor) opts='--json' ;;
        upgrade)
                case $sub in
                now) opts='--to --jar --dry-run --no-wait --force' ;;
                window) opts='--dry-run --no-wait' ;;
                esac
                ;;
        rollback) opts='--keep-data --yes --dry-run --no-wait --force' ;;
        backup) opts='--dry-run --no-wait' ;;
        restore) opts='--yes --force --dry-run --no-wait' ;;
        rehearse) opts='--no-wait' ;;
        hold) opts='--reason' ;;
        inspect) opts='--json --no-hash' ;;
        fleet) [[ $sub == status ]] && opts='--json' ;;
        esac

        if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$opts" -- "$cur"))
                return
        fi

        case $verb in
        '')
                COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
                ;;
        upgrade)
                [[ -z $sub ]] && COMPREPLY=($(compgen -W 'now window' -- "$cur"))
                ;;
        fleet)
                [[ -z $sub ]] && COMPREPLY=($(compgen -W 'status' -- "$cur"))
                ;;
        config)
                if [[ -z $sub ]]; then
                        COMPREPLY=($(compgen -W 'check' -- "$cur"))
                elif [[ $sub == check && $nargs -eq 1 ]]; then
                        _filedir
                fi
                ;;
        inspect)
                [[ -z $sub ]] && _filedir
                ;;
        rehearse | approve)
                [[ -z $sub ]] &&
                        COMPREPLY=($(compgen -W "$(_mbctl_json_values version "$mbctl" list --json)" -- "$cur"))
                ;;
        restore)
                [[ -z $sub ]] &&
                        COMPREPLY=($(compgen -W "$(_mbctl_json_values id "$mbctl" backups --json)" -- "$cur"))
                ;;
        esac
} && complete -F _mbctl mbctl
