# zsh -f tests/support/zsh-complete.zsh FPATH_DIR LINE — the words zsh's completion system
# offers for LINE (the cursor at its end), sorted, one per line.  It types LINE and a TAB into
# an interactive zsh on a pseudo-terminal (zsh/zpty) with compinit loaded from FPATH_DIR first;
# a compadd wrapper prints every match the completion functions add.
zmodload zsh/zpty || exit 2
zpty z zsh -f -i
zpty -w z "PS1=''; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z 'compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a __hits; builtin compadd -A __hits "$@"; local r=$?
  (( $#__hits )) && print -rl -- "<hit>"${^__hits}"</hit>"
  return r
}'
zpty -w z "print -r -- '<ready>'"
# The echo of the command, then its output.
zpty -r z line '*<ready>*' && zpty -r z line '*<ready>*' || exit 3
zpty -w -n z "$2"$'\t'
integer tries=0
out=
# Bounded: 5 s of reading, whatever arrives.
while (( tries++ < 50 )); do
	zpty -r -t z chunk && out+=$chunk || sleep 0.1
done
zpty -d z
print -r -- ${(F)${(M)${(f)out}:#*<hit>*}} | sed -n 's/.*<hit>\(.*\)<\/hit>.*/\1/p' | sort -u
