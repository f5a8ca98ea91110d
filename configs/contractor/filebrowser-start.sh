#!/bin/sh
# FileBrowser's entrypoint in the contractor stack (stacks/contractor.yml). Its users are Drover's grants
# (`drover access grant --files`): one `filebrowser users import` file per grant in /drover/filebrowser-users,
# written by Drover on this manager. FileBrowser holds its database open while it runs, so the users are replaced
# here, at start; Drover restarts the service after each grant and revocation.
set -eu
fb=/filebrowser
db=/database/filebrowser.db
users=/drover/filebrowser-users
[ -f "$db" ] || "$fb" -d "$db" config init --root /srv/sites --address 0.0.0.0 --port 8080 --auth.method=proxy --auth.header=X-authentik-username
# A proxy login FileBrowser does not know is created with these defaults: an empty scope and no permission.
"$fb" -d "$db" config set --root /srv/sites --address 0.0.0.0 --port 8080 --auth.method=proxy --auth.header=X-authentik-username \
  --scope /.drover-no-grant --commands '' --perm.admin=false --perm.execute=false --perm.create=false --perm.rename=false \
  --perm.modify=false --perm.delete=false --perm.share=false --perm.download=false
# The user base is exactly the grants on disk: everyone else (a revoked grant) goes.
echo '[]' > /tmp/no-users.json
"$fb" -d "$db" users import /tmp/no-users.json --replace
for f in "$users"/*.json; do
  [ -e "$f" ] || continue
  "$fb" -d "$db" users import "$f"
done
exec "$fb" -d "$db"
