# bash completion for `bigfs`, the BigFS operator's command.
#
#   source scripts/bigfs-completion.bash      # or: make install puts it in
#                                             # bash-completion's folder
#
# Completes the commands and subcommands, every option, the files a
# PATH names (on a mount, or anywhere for --secret, --cafile and a dump
# FILE), the worker ids of `worker drain|undrain` (asked of the master
# with `bigfs workers --json`, using the --master/--cafile given on the
# line or $BIGFS_MASTER; nothing when no master answers within 3 s) and
# the trash entry ids of `trash restore|purge` (with the secret).
# Works with or without the bash-completion package.

_bigfs_commands="status workers worker fileinfo goal locations snapshot trash quota events metadata help"
_bigfs_global_opts="--master --cafile --secret --ns --json --help"
# options that take a value (so the word after them is no operand)
_bigfs_value_opts="--master|--cafile|--secret|--to|--limit|--stall|--bytes|--bytes-soft|--inodes|--inodes-soft|--grace|--since|--kafka-opt"

# The bigfs the user is completing for, with the connection options of
# the line, asked for JSON; prints its stdout, nothing on failure.
_bigfs_ask()
{
	local bin=${COMP_WORDS[0]} i w args=()
	for ((i = 1; i < ${#COMP_WORDS[@]} - 1; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--master | --cafile | --secret) args+=("$w" "${COMP_WORDS[i + 1]}") ;;
		esac
	done
	# a leading ~ as the shell would expand it
	bin=${bin/#\~/$HOME}
	command -v "$bin" >/dev/null 2>&1 || return 0
	timeout 3 "$bin" "${args[@]}" "$@" --json 2>/dev/null
}

_bigfs_worker_ids()
{
	_bigfs_ask workers | sed -n 's/.*"worker_id": *"\([0-9a-f]*\)".*/\1/p'
}

_bigfs_trash_ids()
{
	_bigfs_ask trash list | sed -n 's/^    *"id": *\([0-9]*\).*/\1/p'
}

_bigfs_files()
{
	if declare -F _filedir >/dev/null; then
		_filedir
	else
		local IFS=$'\n'
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}

_bigfs_dirs()
{
	if declare -F _filedir >/dev/null; then
		_filedir -d
	else
		local IFS=$'\n'
		COMPREPLY=($(compgen -d -- "$cur"))
	fi
}

_bigfs()
{
	local cur prev i w cmd="" sub="" nops=0 opts="" subs=""
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=""
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

	# the value of an option
	case $prev in
	--cafile | --secret | --to)
		_bigfs_files
		return 0
		;;
	--master)
		[[ -n $BIGFS_MASTER ]] && COMPREPLY=($(compgen -W "$BIGFS_MASTER" -- "$cur"))
		return 0
		;;
	--limit | --stall | --bytes | --bytes-soft | --inodes | --inodes-soft | --grace | --since | --kafka-opt)
		return 0
		;;
	esac

	# the command, subcommand and operands so far
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		if [[ $w == -* ]]; then
			[[ $w =~ ^($_bigfs_value_opts)$ ]] && ((i++))
			continue
		fi
		if [[ -z $cmd ]]; then
			cmd=$w
		elif [[ -z $sub && $cmd =~ ^(worker|trash|quota|metadata)$ ]]; then
			sub=$w
		else
			((nops++))
		fi
	done

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$_bigfs_global_opts" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$_bigfs_commands" -- "$cur"))
		fi
		return 0
	fi

	case $cmd in
	worker) subs="list drain undrain" ;;
	trash) subs="list restore purge" ;;
	quota) subs="set get list remove" ;;
	metadata) subs="dump checkpoint" ;;
	esac
	if [[ -n $subs && -z $sub ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$subs" -- "$cur"))
		fi
		return 0
	fi

	case "$cmd${sub:+ $sub}" in
	"worker drain") opts="--wait --stall" ;;
	"trash list") opts="--limit" ;;
	"trash restore") opts="--to" ;;
	"quota set") opts="--bytes --bytes-soft --inodes --inodes-soft --grace" ;;
	events) opts="--follow --since --kafka-opt" ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts $_bigfs_global_opts" -- "$cur"))
		return 0
	fi

	case "$cmd${sub:+ $sub}" in
	"worker drain" | "worker undrain")
		((nops == 0)) && COMPREPLY=($(compgen -W "$(_bigfs_worker_ids)" -- "$cur"))
		;;
	"trash restore" | "trash purge")
		((nops == 0)) && COMPREPLY=($(compgen -W "$(_bigfs_trash_ids)" -- "$cur"))
		;;
	fileinfo | locations | "metadata dump")
		_bigfs_files
		;;
	goal)
		((nops == 0)) && _bigfs_files
		((nops == 1)) && COMPREPLY=($(compgen -W "1 2 3 4 5" -- "$cur"))
		;;
	snapshot)
		((nops < 2)) && _bigfs_files
		;;
	"trash list")
		((nops == 0)) && _bigfs_files
		;;
	"quota set" | "quota get" | "quota remove")
		((nops == 0)) && _bigfs_dirs
		;;
	help)
		if ((nops == 0)); then
			COMPREPLY=($(compgen -W "$_bigfs_commands" -- "$cur"))
		fi
		;;
	esac
	return 0
}

complete -F _bigfs bigfs
