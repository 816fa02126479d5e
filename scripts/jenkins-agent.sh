#!/usr/bin/env bash
# Start the Jenkins agent that runs the pull-request previews (README, "Review changes in pull
# requests"), ON THIS DOCKER HOST, as the account that owns the stacks: the previews read its
# Pulumi state, passphrase (scripts/env.sh) and Docker engine. It connects to the stack's
# Jenkins over WebSocket as node mlops-stack-host (JCasC declares it when the stack sets
# jenkins.previewRepo) and runs until stopped; run it under a service manager to keep it.
#
#   scripts/jenkins-agent.sh STACK
#
# Needs: Java 17 or later (`java` on PATH), curl, the stack's outputs (pulumi). The agent's
# jar comes from that Jenkins; its secret is read with the admin login into a file only this
# account can read, and handed over as `-secret @file`: never on a command line.
set -euo pipefail
if [ $# -ne 1 ] || [[ ! $1 =~ ^[a-z0-9]+([._-][a-z0-9]+)*$ ]]; then
  echo "usage: $0 STACK (a stack name)" >&2
  exit 1
fi
stack=$1
node=mlops-stack-host
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh
for tool in java curl pulumi python3; do
  command -v "$tool" >/dev/null || { echo "no $tool on PATH: the agent needs it" >&2; exit 1; }
done
output() { pulumi stack output --stack "$stack" "$@"; }
if ! url=$(output previewRepoCloneUrl 2>/dev/null) || [ -z "$url" ]; then
  echo "stack '$stack' has no pull-request previews: set jenkins.previewRepo and run pulumi up" >&2
  exit 1
fi
url=$(output jenkinsUrl)
user=$(output jenkinsAdminUser)
password=$(output --show-secrets jenkinsAdminPassword)
root=$(output previewAgentDir) # the node's root (workspaces), in /var/tmp: made private here
dir="${MLOPS_CACHE_DIR:-$HOME/.cache/mlops-stack}/jenkins-agent/$stack"
umask 077
mkdir -p "$dir/work" "$root"
if [ "$(stat -c %u "$root")" != "$(id -u)" ]; then
  echo "$root belongs to another account: remove it (the agent's workspaces must be this account's)" >&2
  exit 1
fi
chmod 700 "$root"
# curl reads the login from its config on stdin (printf is a builtin: no process shows it);
# inside a quoted config value curl reads \ and " as escapes: escaped here.
login() {
  local p=${password//\\/\\\\}
  printf 'user = "%s:%s"\n' "$user" "${p//\"/\\\"}"
}
curl -fsS --max-time 120 -o "$dir/agent.jar" "$url/jnlpJars/agent.jar"
# The node's launch file: its first <argument> is the secret, the second the node's name.
rm -f "$dir/secret.new"
login | curl -fsS --max-time 30 -K - "$url/computer/$node/jenkins-agent.jnlp" |
  python3 -c '
import sys, xml.etree.ElementTree as ET
args = [a.text or "" for a in ET.parse(sys.stdin).getroot().iter("argument")]
if len(args) < 2 or args[1] != sys.argv[1] or len(args[0]) != 64:
    sys.exit("the launch file of node " + sys.argv[1] + " holds no secret for it")
sys.stdout.write(args[0])
' "$node" >"$dir/secret.new"
mv -f "$dir/secret.new" "$dir/secret" # made under umask 077: only this account reads it
unset password
echo "agent $node of stack $stack connecting to $url (work dir $dir/work)"
exec java -jar "$dir/agent.jar" -url "$url/" -name "$node" -secret "@$dir/secret" -webSocket -workDir "$dir/work"
