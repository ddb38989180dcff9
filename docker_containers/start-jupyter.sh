#!/usr/bin/env bash
# Start JupyterLab in the workshop container, with authentication on.
#
# The secret comes only from the environment at run time:
#   JUPYTER_TOKEN     a token (Jupyter reads it from the environment itself), or
#   JUPYTER_PASSWORD  a password, hashed here and never written to disk.
# Without either the container refuses to start.
set -euo pipefail
cd "${NEST_WORKSHOP_HOME:-/home/workshop/nest-workshop}"

# Started by JupyterHub (Zero to JupyterHub on Kubernetes, docker_containers/hub/): the hub
# signs participants in and hands this server its own token (JUPYTERHUB_API_TOKEN). Start
# the participant's server as `make hub` does: their copy of the materials in workspace/,
# then jupyterhub-singleuser with the arguments the hub gave.
if [ -n "${JUPYTERHUB_API_TOKEN:-}" ]; then
    exec python -m nest_workshop.tools.hub participant "$@"
fi

# No news feed and no update check (the overrides of `make setup` also answer the news question).
args=(--ip=0.0.0.0 --port="${PORT:-7003}" --no-browser --notebook-dir=. --ServerApp.open_browser=False
      --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate)
if [ -n "${JUPYTER_PASSWORD:-}" ]; then
    hashed=$(python -c 'import os; from jupyter_server.auth import passwd; print(passwd(os.environ["JUPYTER_PASSWORD"]))')
    unset JUPYTER_PASSWORD
    args+=(--PasswordIdentityProvider.hashed_password="$hashed" --IdentityProvider.token="")
elif [ -z "${JUPYTER_TOKEN:-}" ]; then
    echo "Refusing to start JupyterLab without authentication." >&2
    echo "Set JUPYTER_TOKEN (or JUPYTER_PASSWORD) when starting the container, e.g." >&2
    echo "    export JUPYTER_TOKEN=\$(python3 -c 'import secrets; print(secrets.token_hex(16))')" >&2
    echo "    docker compose -f docker_containers/docker-compose.yml up" >&2
    exit 2
fi
echo "JupyterLab on port ${PORT:-7003}: open http://127.0.0.1:${PORT:-7003}/lab and log in with your token or password." >&2
exec jupyter lab "${args[@]}" "$@"
