#!/usr/bin/env bash
# The release role's puts, each atomic (a file or link made beside the target and renamed over it: rename(2)),
# several in one call (one round trip). Each prints its name when it changed something, nothing when it did not.
#   link DIR RELEASE          point DIR/current at releases/RELEASE
#   file NAME SRC DEST KEEP HOW
#                             put SRC in place of DEST when they differ; KEEP: a suffix to keep the replaced DEST
#                             under ('-': keep nothing); HOW: move (SRC is consumed; a missing SRC is nothing to do),
#                             copy (SRC stays; a missing SRC is an error). NAME is what gets printed.
#   need KIND PATH MESSAGE    refuse (MESSAGE on stderr, exit 4) unless PATH is there: KIND file (it exists),
#                             executable (a file this user may run), image (a file naming an image podman has)
set -euo pipefail

while (($#)); do
  case $1 in
    link)
      dir=$2 target="releases/$3"
      shift 3
      [[ $(readlink "$dir/current" 2>/dev/null) == "$target" ]] && continue
      ln -sfn "$target" "$dir/.current.next"
      mv -T "$dir/.current.next" "$dir/current"
      echo link
      ;;
    file)
      name=$2 src=$3 dest=$4 keep=$5 how=$6
      shift 6
      if [[ ! -e $src ]]; then
        [[ $how == move ]] && continue
        echo "no $src: there is no such config to put back" >&2
        exit 3
      fi
      if [[ -e $dest ]] && cmp -s "$src" "$dest"; then
        [[ $how == move ]] && rm -f "$src"
        continue
      fi
      [[ $keep != - && -e $dest ]] && cp -p "$dest" "$dest$keep"
      if [[ $how == move ]]; then
        mv -T "$src" "$dest"
      else
        cp -p "$src" "$dest.put" && mv -T "$dest.put" "$dest"
      fi
      echo "$name"
      ;;
    need)
      kind=$2 path=$3 message=$4
      shift 4
      case $kind in
        file) [[ -e $path ]] ;;
        executable) [[ -f $path && -x $path ]] ;;
        image) [[ -s $path ]] && podman image exists "$(<"$path")" ;;
        *)
          echo "put.sh: unknown need $kind" >&2
          exit 2
          ;;
      esac || {
        echo "$message" >&2
        exit 4
      }
      ;;
    *)
      echo "put.sh: unknown operation $1" >&2
      exit 2
      ;;
  esac
done
