# shellcheck shell=bash
# The project's .venv, as scripts/setup.sh (requirements.txt, as root) and scripts/setup-controller.sh
# (requirements-controller.txt, an operator's machine) make it: again only when the pins it was made from changed;
# then the link ansible.cfg reaches it through (so ansible.cfg names no Python version) and the collections
# requirements.yml names, checked. The caller defines log and die.

_venv_pins() {  # _venv_pins ROOT REQUIREMENTS: the hash of a requirements file and the constraints pinning it
  cat "$1/$2" "$1/constraints.txt" | sha256sum | cut -d' ' -f1
}

# project_venv ROOT PYTHON REQUIREMENTS [ALSO_CURRENT...]: ROOT/.venv from REQUIREMENTS, pinned by constraints.txt;
# a .venv made from one of ALSO_CURRENT (a superset of REQUIREMENTS) counts as current too.
project_venv() {
  local root=$1 python=$2 requirements=$3
  shift 3
  local venv="$root/.venv" have file
  have=$(cat "$venv/.requirements.sha256" 2>/dev/null || true)
  for file in "$requirements" "$@"; do
    if [[ -x $venv/bin/python && $have == "$(_venv_pins "$root" "$file")" ]]; then
      log "virtualenv current ($file)"
      break
    fi
    file=""
  done
  if [[ -z $file ]]; then
    log "creating $venv with the pins of $requirements"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/$requirements" -c "$root/constraints.txt"
    _venv_pins "$root" "$requirements" >"$venv/.requirements.sha256"
  fi
  ln -sfn "$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" "$venv/site-packages"
  "$venv/bin/python" "$root/scripts/check_collections.py" "$root/requirements.yml"
}
