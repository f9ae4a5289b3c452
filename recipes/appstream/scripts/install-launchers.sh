#!/usr/bin/env bash
# Launchers for the AppStream application catalog. The tools live on the EFS share mounted at
# /opt/tools when a session starts; the launchers only find and start them.
set -euo pipefail

install -d -m 0755 /opt/launchers

cat > /opt/launchers/jupyterlab <<'SH'
#!/usr/bin/env bash
# JupyterLab from the team's shared conda environment, opened in the session's browser.
set -euo pipefail
env=/opt/tools/conda/envs/datasci
[ -x "$env/bin/jupyter" ] || { zenity --error --text="The tools share is not mounted. Restart the session."; exit 1; }
work="$HOME/MyFiles/HomeFolder"
mkdir -p "$work"
exec "$env/bin/jupyter" lab --notebook-dir="$work" --ServerApp.ip=127.0.0.1
SH

cat > /opt/launchers/rstudio <<'SH'
#!/usr/bin/env bash
# RStudio Desktop from the tools share, with R from the shared environment.
set -euo pipefail
export RSTUDIO_WHICH_R=/opt/tools/conda/envs/r-datasci/bin/R
[ -x /opt/tools/rstudio/rstudio ] || { zenity --error --text="The tools share is not mounted. Restart the session."; exit 1; }
exec /opt/tools/rstudio/rstudio "$@"
SH

chmod 0755 /opt/launchers/jupyterlab /opt/launchers/rstudio

