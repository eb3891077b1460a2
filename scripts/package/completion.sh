#!/usr/bin/env bash
#
# completion.sh
#     Write the bash completion of one of the programs, generated from the
#     program's own command and option tables ("PROGRAM --list-options",
#     common/cli.c), so that it cannot drift from what the parser accepts.
#
# Usage: scripts/package/completion.sh PROGRAM_BINARY NAME OUTPUT
#     NAME is the command the completion is for (migrator, indexer).
#     The build runs this after linking the program (CMakeLists.txt); the
#     file is installed to share/bash-completion/completions/NAME.
#
# What it completes: the commands; after a command, the options that apply
# to it (both programs' common ones and the program's own rows whose bit the
# command has); the value of an option that takes a file name (CLI_STRING)
# with file names, in "--opt FILE" and "--opt=FILE" form; the value of an
# option with a fixed set of values ("value=text|json|github" in the
# listing: --log-format, --color, --preflight, ...) with those words; the
# arguments of a command that takes files ("files": migrator lint) with
# directories and *.sql files (a glob typed is expanded to them).  Other
# values (durations, names) are not guessed.
#
# scripts/package/completion.sh
#
set -euo pipefail

if [ "$#" -ne 3 ]; then
	echo "usage: scripts/package/completion.sh PROGRAM_BINARY NAME OUTPUT" >&2
	exit 2
fi
bin=$1
name=$2
out=$3
case "$name" in
	*[!a-z0-9_]* | "")
		echo "completion.sh: \"$name\" cannot name a shell function" >&2
		exit 2
		;;
esac

listing=$("$bin" --list-options)
if ! grep -q '^command	' <<<"$listing"; then
	echo "completion.sh: $bin --list-options listed no command" >&2
	exit 1
fi

# "words KIND COMMAND": the option words of COMMAND ("" for every command)
# of the given kinds (a regex: flag|path|value; "value=A|B" is a value).
words() {
	awk -F '\t' -v kinds="^($1)\$" -v cmd="$2" \
		'$1 == "option" { k = $4; sub(/=.*/, "", k) }
		$1 == "option" && (cmd == "" || $2 == cmd) && k ~ kinds && !seen[$3]++ { printf "%s%s", sep, $3; sep = " " }' \
		<<<"$listing"
}

# One case arm per option with a fixed set of values: _w, its words.  An
# option has one set in a program, whatever the command (checked here).
value_arms() {
	awk -F '\t' '$1 == "option" && $4 ~ /^value=/ {
		set = substr($4, 7); gsub(/\|/, " ", set)
		if (($3 in sets) && sets[$3] != set) { print "conflict " $3 > "/dev/stderr"; exit 1 }
		if (!($3 in sets)) { sets[$3] = set; order[n++] = $3 }
	}
	END { for (i = 0; i < n; i++) printf "\t%s) _w=\x27%s\x27 ;;\n", order[i], sets[order[i]] }' <<<"$listing"
}

# "args COMMAND": what COMMAND's arguments are ("files", "arg" or "-").
args() {
	awk -F '\t' -v cmd="$1" '$1 == "command" && $2 == cmd { print $3 }' <<<"$listing"
}

commands=$(awk -F '\t' '$1 == "command" { printf "%s%s", sep, $2; sep = " " }' <<<"$listing")

# One case arm per command and one for "no command yet" (every option).
table_arms() {
	local cmd
	for cmd in $commands; do
		printf '\t%s)\n' "$cmd"
		printf "\t\t_o='%s'\n" "$(words 'flag|path|value' "$cmd")"
		printf "\t\t_v='%s'\n" "$(words 'path|value' "$cmd")"
		printf "\t\t_p='%s'\n" "$(words 'path' "$cmd")"
		printf "\t\t_a='%s'\n" "$(args "$cmd")"
		printf '\t\t;;\n'
	done
	printf '\t*)\n'
	printf "\t\t_o='%s'\n" "$(words 'flag|path|value' '')"
	# before the command word only options that take a value everywhere
	# count as taking one (baseline --version N, but -V elsewhere)
	printf "\t\t_v='%s'\n" "$(comm -23 <(words 'path|value' '' | tr ' ' '\n' | sort) \
		<(words 'flag' '' | tr ' ' '\n' | sort) | paste -sd ' ')"
	printf "\t\t_p='%s'\n" "$(words 'path' '')"
	printf "\t\t_a=''\n"
	printf '\t\t;;\n'
}
arms=$(value_arms)

mkdir -p "$(dirname "$out")"
tmp="$out.tmp"
cat >"$tmp" <<EOF
# bash completion for $name                                 -*- shell-script -*-
#
# Generated at build time by scripts/package/completion.sh from
# "$name --list-options", the program's own command and option tables
# (common/cli.c and $name/main.c): do not edit, change the tables.

# _${name}_table COMMAND: the option words that apply to COMMAND (_o), those
# that take a value (_v), those whose value is a file name (_p), and what
# its arguments are (_a: files, arg or -).
_${name}_table()
{
	case "\$1" in
$(table_arms)
	esac
}

# _${name}_values OPTION: the fixed set of values OPTION takes (_w), or none.
_${name}_values()
{
	_w=''
	case "\$1" in
$arms
	esac
}

# The arguments of a command that takes files: directories and *.sql files;
# a glob typed (migrations/1*) becomes the SQL files and directories it matches.
_${name}_sql_files()
{
	local f
	compopt -o filenames 2>/dev/null
	if [[ \$cur == *[*?[]* ]]; then
		COMPREPLY=()
		while IFS= read -r f; do
			[[ -d \$f || \$f == *.sql ]] && COMPREPLY+=("\$f")
		done < <(compgen -G "\$cur")
	elif declare -F _filedir >/dev/null; then
		_filedir sql
	else
		mapfile -t COMPREPLY < <(compgen -d -- "\$cur"; compgen -f -X '!*.sql' -- "\$cur")
	fi
}

_${name}_files()
{
	if declare -F _filedir >/dev/null; then
		_filedir
	else
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "\$cur")
	fi
}

_${name}()
{
	local cur=\${COMP_WORDS[COMP_CWORD]} prev='' opt='' cmd='' w i pending=0
	local _o _v _p _a _w
	COMPREPLY=()
	# "--opt=VALUE" comes as three words: "--opt" "=" "VALUE"
	((COMP_CWORD > 1)) && prev=\${COMP_WORDS[COMP_CWORD - 1]}
	_${name}_table ''
	# the command: the first word that is neither an option nor its value
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=\${COMP_WORDS[i]}
		if ((pending)); then
			[[ \$w == = ]] || pending=0
			continue
		fi
		case "\$w" in
			-*) [[ " \$_v " == *" \$w "* ]] && pending=1 ;;
			=) ;;
			*)
				cmd=\$w
				break
				;;
		esac
	done
	[ -n "\$cmd" ] && _${name}_table "\$cmd"

	if [[ \$cur == = ]]; then
		opt=\$prev
		cur=
	elif [[ \$prev == = ]] && ((COMP_CWORD > 2)); then
		opt=\${COMP_WORDS[COMP_CWORD - 2]}
	elif [[ \$prev == -* ]]; then
		opt=\$prev
	fi
	if [ -n "\$opt" ] && [[ " \$_v " == *" \$opt "* ]]; then
		_${name}_values "\$opt"
		if [[ " \$_p " == *" \$opt "* ]]; then
			_${name}_files
		elif [ -n "\$_w" ]; then
			mapfile -t COMPREPLY < <(compgen -W "\$_w" -- "\$cur")
		fi
		return 0
	fi
	if [[ \$cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "\$_o" -- "\$cur")
	elif [ -z "\$cmd" ]; then
		mapfile -t COMPREPLY < <(compgen -W '$commands' -- "\$cur")
	elif [ "\$_a" = files ]; then
		_${name}_sql_files
	fi
	return 0
}

complete -F _${name} ${name}
EOF
bash -n "$tmp"
mv "$tmp" "$out"
