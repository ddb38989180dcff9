#!/usr/bin/env bash
# Make sure the system tools that the workshop needs are present.
#
# NESTML turns .nestml files into C++ that is compiled against the NEST wheel's
# headers; those headers include GSL, Boost and libltdl headers, so a compiler, CMake,
# make and these -dev packages must be installed. Python needs venv support.
#
# Checks take well under a second. When something is missing: as root on
# Debian/Ubuntu it is installed with apt-get; otherwise the script stops and prints
# the exact command to run.
#
# With --mpi it also checks what building NEST with MPI needs (make mpi): OpenMPI's
# compiler wrappers and launcher, and ninja. With --hub, what a workshop room needs
# (make hub, and its tests): Node.js and npm for JupyterHub's proxy, useradd for the
# participants' system users, and Debian's python3 with venv for their environment.
set -euo pipefail

MPI=0
HUB=0
if [ "${1:-}" = "--mpi" ]; then MPI=1; shift; fi
if [ "${1:-}" = "--hub" ]; then HUB=1; shift; fi
PYTHON="${1:-python3}"
missing_pkgs=()
missing_what=()

need_command() {  # command, Debian package
    if ! command -v "$1" >/dev/null 2>&1; then
        missing_pkgs+=("$2"); missing_what+=("the '$1' command")
    fi
}

need_header() {  # header, Debian package
    # Ask the compiler itself: this finds headers wherever the system keeps them.
    if ! command -v g++ >/dev/null 2>&1 \
        || ! printf '#include <%s>\n' "$1" | g++ -E -x c++ - >/dev/null 2>&1; then
        missing_pkgs+=("$2"); missing_what+=("the C/C++ header <$1>")
    fi
}

need_command g++ g++
need_command cmake cmake
need_command make make
need_header gsl/gsl_errno.h libgsl-dev
need_header boost/version.hpp libboost-dev
need_header ltdl.h libltdl-dev
if [ "$MPI" -eq 1 ]; then
    need_command mpicc libopenmpi-dev
    need_command ompi_info libopenmpi-dev
    need_command mpirun openmpi-bin
    need_command ninja ninja-build
fi
if [ "$HUB" -eq 1 ]; then
    need_command node nodejs
    need_command npm npm
    need_command useradd passwd
    if ! /usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        missing_pkgs+=("python3-venv"); missing_what+=("Debian's python3 with venv (the participants' environment)")
    fi
fi

if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)
    missing_pkgs+=("python${pyver}-venv"); missing_what+=("Python's venv module for $PYTHON")
fi

if [ ${#missing_pkgs[@]} -eq 0 ]; then
    exit 0
fi

# g++ is checked before the headers; without it every header looks missing too.
mapfile -t unique_pkgs < <(printf '%s\n' "${missing_pkgs[@]}" | sort -u)
echo "Missing: $(IFS=', '; echo "${missing_what[*]}")" >&2

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing with apt-get: ${unique_pkgs[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${unique_pkgs[@]}"
    exit 0
fi

if command -v apt-get >/dev/null 2>&1; then
    echo >&2
    echo "Install them with:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y ${unique_pkgs[*]}" >&2
else
    echo >&2
    echo "This is not a Debian/Ubuntu system. Install the equivalent of these Debian" >&2
    echo "packages with your package manager: ${unique_pkgs[*]}" >&2
    echo "(or use conda: see environment.yml)" >&2
fi
echo "then run the make command again." >&2
exit 1
