#!/bin/bash
# Checks every app of the bundled catalog for real: builds its images on a
# base made with `bothy image bootstrap debian`, runs its services as the
# recipe says (--userns=auto, the service name as network alias, secrets as
# 0400 files in a volume at /run/secrets) and fetches what they serve.
# Run as root from the top of the tree (catalog/README.md, "Verification"):
#   catalog/verify.sh [build|static-site|wordpress|radicale|cgit|mediawiki|all|clean]
# B: the bothy binary (build/bothy); ROOT: a scratch bothy root (/tmp/catalog-root),
# removed by `clean`. Host ports 127.0.0.1:18081-18085 must be free.
set -u
B=${B:-build/bothy}
ROOT=${ROOT:-/tmp/catalog-root}
b() { "$B" --root "$ROOT" "$@"; }
T=$(mktemp -d) # pages fetched, cookies, a clone
trap 'rm -rf "$T"' EXIT
pass=0; fail=0
check() { # check NAME COMMAND...: runs it, records pass/fail
  local name=$1; shift
  if out=$("$@" 2>&1); then echo "PASS $name"; pass=$((pass+1)); else echo "FAIL $name: $out" | head -5; fail=$((fail+1)); fi
}
gen() { head -c 2000 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c "$1"; }
secret_vol() { # secret_vol VOL NAME=VALUE...: a volume of 0400 root files, as the app layer makes it
  local v=$1; shift
  b volume create "$v" >/dev/null
  local d=$ROOT/volumes/$v/_data kv
  for kv in "$@"; do printf '%s' "${kv#*=}" > "$d/${kv%%=*}"; chmod 0400 "$d/${kv%%=*}"; done
}
wait_http() { # wait_http URL [SECONDS]: until it answers 200
  local i
  for i in $(seq 1 "${2:-60}"); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
    sleep 1
  done
  return 1
}
has() { grep -q -- "$2" "$1"; }
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
run() { b run -d --userns=auto "$@" >/dev/null; }

step=${1:-all}

if [ "$step" = clean ]; then
  [ -d "$ROOT" ] || exit 0
  for c in cat-static-site-web cat-wordpress-db cat-wordpress-web cat-radicale-web cat-cgit-web \
           cat-mediawiki-db cat-mediawiki-web; do
    b rm -f -v "$c" >/dev/null 2>&1
  done
  for n in catnet-static-site catnet-wordpress catnet-radicale catnet-cgit catnet-mediawiki; do
    b network rm "$n" >/dev/null 2>&1
  done
  for v in cat-site-pages cat-wp-secrets cat-wp-data cat-wp-content cat-rad-secrets \
           cat-rad-collections cat-cgit-repos cat-mw-secrets cat-mw-data cat-mw-images; do
    b volume rm "$v" >/dev/null 2>&1
  done
  if grep -q " $ROOT/" /proc/self/mountinfo; then
    echo "verify: mounts left under $ROOT, not removing it" >&2
    exit 1
  fi
  rm -rf "$ROOT"
  exit 0
fi

if [ "$step" = build ] || [ "$step" = all ]; then
  /usr/bin/time -f "TIME bootstrap %e s" "$B" --root "$ROOT" image bootstrap debian -q
  for s in static-site/web wordpress/db wordpress/web radicale/web cgit/web mediawiki/db mediawiki/web; do
    app=${s%/*}; svc=${s#*/}
    /usr/bin/time -f "TIME build $app-$svc %e s" "$B" --root "$ROOT" build --network host -q \
      -t "localhost/catalog/$app-$svc:test" "catalog/$s" >/dev/null || echo "FAIL build $s"
  done
  b images
fi

if [ "$step" = static-site ] || [ "$step" = all ]; then
  b network create catnet-static-site >/dev/null
  run --name cat-static-site-web --network catnet-static-site --network-alias web --memory 64m \
    -e 'SITE_TITLE=Club <Pages> & Co' -v cat-site-pages:/srv/site -p 127.0.0.1:18081:80 \
    localhost/catalog/static-site-web:test
  check "static-site: GET / 200" wait_http http://127.0.0.1:18081/ 20
  curl -s http://127.0.0.1:18081/ > $T/site.html
  check "static-site: page names the instance (escaped title)" has $T/site.html '<h1>Club &lt;Pages&gt; &amp; Co</h1>'
  check "static-site: GET /nope 404" test "$(code http://127.0.0.1:18081/nope)" = 404
  check "static-site: from a container on the network, by service name" \
    b run --rm --network catnet-static-site localhost/bothy/debian:12 bash -c \
    'exec 3<>/dev/tcp/web/80; printf "GET / HTTP/1.0\r\nHost: web\r\n\r\n" >&3; grep -q "Club &lt;Pages&gt;" <&3'
  check "static-site: health (exec http-check 80 /)" b exec cat-static-site-web http-check 80 /
  check "static-site: backup hook (sync -f /srv/site)" b exec cat-static-site-web sync -f /srv/site
  check "static-site: access log on stdout" sh -c "'$B' --root '$ROOT' logs cat-static-site-web | grep -q 'GET /nope HTTP/1.1\" 404'"
  echo '<h1>mine</h1>' > "$ROOT/volumes/cat-site-pages/_data/index.html"
  b restart cat-static-site-web >/dev/null
  check "static-site: own page kept over a restart" sh -c "sleep 1; curl -s http://127.0.0.1:18081/ | grep -q mine"
fi

if [ "$step" = wordpress ] || [ "$step" = all ]; then
  pw=$(gen 32); key=$(gen 64)
  b network create catnet-wordpress >/dev/null
  secret_vol cat-wp-secrets db_password="$pw" auth_key="$key"
  run --name cat-wordpress-db --network catnet-wordpress --network-alias db --memory 512m \
    -e MARIADB_DATABASE=wordpress -e MARIADB_USER=wordpress \
    -v cat-wp-secrets:/run/secrets:ro -v cat-wp-data:/var/lib/mysql localhost/catalog/wordpress-db:test
  for i in $(seq 1 30); do b exec cat-wordpress-db mariadb-admin --silent ping >/dev/null 2>&1 && break; sleep 1; done
  check "wordpress: db health (mariadb-admin --silent ping)" b exec cat-wordpress-db mariadb-admin --silent ping
  run --name cat-wordpress-web --network catnet-wordpress --network-alias web --memory 256m \
    -e WORDPRESS_DB_HOST=db -e WORDPRESS_DB_NAME=wordpress -e WORDPRESS_DB_USER=wordpress \
    -v cat-wp-secrets:/run/secrets:ro -v cat-wp-content:/var/lib/wordpress/wp-content \
    -p 127.0.0.1:18082:80 localhost/catalog/wordpress-web:test
  check "wordpress: install page 200" wait_http http://127.0.0.1:18082/wp-admin/install.php 30
  curl -s http://127.0.0.1:18082/wp-admin/install.php > $T/wp.html
  check "wordpress: install page says WordPress" has $T/wp.html '<title>WordPress &rsaquo; Installation</title>'
  check "wordpress: web health (http-check 80 /wp-login.php)" b exec cat-wordpress-web http-check 80 /wp-login.php
  curl -s --data-urlencode "weblog_title=Catalog Test Blog" \
    -d "user_name=admin&admin_password=Zx9-catalog-test&admin_password2=Zx9-catalog-test&pw_weak=1&admin_email=admin@example.org&blog_public=0&Submit=Install" \
    "http://127.0.0.1:18082/wp-admin/install.php?step=2" > $T/wp2.html
  check "wordpress: install (step=2) succeeds" has $T/wp2.html '<h1>Success!</h1>'
  check "wordpress: home page of the installed blog" sh -c "curl -s http://127.0.0.1:18082/ | grep -q '<title>Catalog Test Blog'"
  check "wordpress: backup hook Before (dump)" b exec cat-wordpress-db sh -c \
    'mariadb-dump --all-databases --single-transaction --routines --events > /var/lib/mysql/dump.sql'
  check "wordpress: the dump holds the blog" grep -q 'Catalog Test Blog' "$ROOT/volumes/cat-wp-data/_data/dump.sql"
  check "wordpress: backup hook After" b exec cat-wordpress-db rm -f /var/lib/mysql/dump.sql
  check "wordpress: update hook (mariadb-upgrade --silent)" b exec cat-wordpress-db mariadb-upgrade --silent
  # a new password: both restart, the db sets it, the blog still answers
  pw2=$(gen 32); printf '%s' "$pw2" > "$ROOT/volumes/cat-wp-secrets/_data/db_password.new"
  chmod 0400 "$ROOT/volumes/cat-wp-secrets/_data/db_password.new"
  mv "$ROOT/volumes/cat-wp-secrets/_data/db_password.new" "$ROOT/volumes/cat-wp-secrets/_data/db_password"
  b restart cat-wordpress-db >/dev/null; sleep 3; b restart cat-wordpress-web >/dev/null
  check "wordpress: after restarts with a new db password" sh -c \
    "for i in \$(seq 1 30); do curl -s http://127.0.0.1:18082/ | grep -q '<title>Catalog Test Blog' && exit 0; sleep 1; done; exit 1"
fi

if [ "$step" = radicale ] || [ "$step" = all ]; then
  rpw=$(gen 24)
  b network create catnet-radicale >/dev/null
  secret_vol cat-rad-secrets password="$rpw"
  run --name cat-radicale-web --network catnet-radicale --network-alias web --memory 128m \
    -e RADICALE_USER=alice -v cat-rad-secrets:/run/secrets:ro -v cat-rad-collections:/var/lib/radicale/collections \
    -p 127.0.0.1:18083:5232 localhost/catalog/radicale-web:test
  check "radicale: web UI 200" wait_http http://127.0.0.1:18083/.web/ 20
  check "radicale: PROPFIND / with the password: 207" test "$(code -u "alice:$rpw" -X PROPFIND -H 'Depth: 1' http://127.0.0.1:18083/)" = 207
  check "radicale: PROPFIND / without: 401" test "$(code -X PROPFIND -H 'Depth: 0' http://127.0.0.1:18083/)" = 401
  check "radicale: PROPFIND / wrong password: 401" test "$(code -u alice:wrong -X PROPFIND -H 'Depth: 0' http://127.0.0.1:18083/)" = 401
  check "radicale: MKCALENDAR-style MKCOL 201" test "$(code -u "alice:$rpw" -X MKCOL -H 'Content-Type: application/xml' --data '<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:resourcetype><D:collection/><C:calendar/></D:resourcetype><D:displayname>Club</D:displayname></D:prop></D:set></D:mkcol>' http://127.0.0.1:18083/alice/club/)" = 201
  check "radicale: PUT an event 201" test "$(code -u "alice:$rpw" -X PUT -H 'Content-Type: text/calendar' --data-binary $'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bothy//test//EN\r\nBEGIN:VEVENT\r\nUID:meet-1@bothy.invalid\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T180000Z\r\nSUMMARY:Club meeting\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n' http://127.0.0.1:18083/alice/club/meet-1.ics)" = 201
  check "radicale: health (http-check 5232 /.web/)" b exec cat-radicale-web http-check 5232 /.web/
  check "radicale: backup hook (--verify-storage)" b exec cat-radicale-web setpriv --reuid=radicale --regid=radicale --init-groups radicale --config /etc/radicale/config --verify-storage
  b restart cat-radicale-web >/dev/null
  check "radicale: the event after a restart" sh -c "for i in \$(seq 1 20); do curl -s -u 'alice:$rpw' http://127.0.0.1:18083/alice/club/meet-1.ics | grep -q 'SUMMARY:Club meeting' && exit 0; sleep 1; done; exit 1"
fi

if [ "$step" = cgit ] || [ "$step" = all ]; then
  b network create catnet-cgit >/dev/null
  run --name cat-cgit-web --network catnet-cgit --network-alias web --memory 128m \
    -e 'CGIT_TITLE=Club code' -e CGIT_DESCRIPTION= -v cat-cgit-repos:/srv/git \
    -p 127.0.0.1:18084:80 localhost/catalog/cgit-web:test
  check "cgit: GET / 200" wait_http http://127.0.0.1:18084/ 20
  curl -s http://127.0.0.1:18084/ > $T/cgit.html
  check "cgit: the list shows the demo repository" has $T/cgit.html "<a href='/demo/'>demo</a>"
  check "cgit: the title" has $T/cgit.html '<title>Club code</title>'
  check "cgit: a file of the demo repository" sh -c "curl -s http://127.0.0.1:18084/demo/plain/README.md | grep -q 'put here by bothy'"
  check "cgit: style sheet" test "$(code http://127.0.0.1:18084/cgit-css/cgit.css)" = 200
  check "cgit: git clone over http" sh -c "rm -rf $T/clone && git clone -q http://127.0.0.1:18084/demo $T/clone && git -C $T/clone log --oneline | grep -q 'A demo repository'"
  git init -q --bare "$ROOT/volumes/cat-cgit-repos/_data/second.git"
  check "cgit: a repository added to the volume is listed" sh -c "curl -s http://127.0.0.1:18084/ | grep -q \"href='/second/'\""
  check "cgit: health (http-check 80 /)" b exec cat-cgit-web http-check 80 /
  check "cgit: backup hook (sync -f /srv/git)" b exec cat-cgit-web sync -f /srv/git
  # lighttpd writes its access log out every few seconds
  check "cgit: access log on stdout" sh -c "for i in \$(seq 1 15); do '$B' --root '$ROOT' logs cat-cgit-web 2>/dev/null | grep -q 'GET /cgit-css/cgit.css' && exit 0; sleep 1; done; exit 1"
fi

if [ "$step" = mediawiki ] || [ "$step" = all ]; then
  pw=$(gen 32); apw=$(gen 24); key=$(gen 64)
  b network create catnet-mediawiki >/dev/null
  secret_vol cat-mw-secrets db_password="$pw" admin_password="$apw" secret_key="$key"
  run --name cat-mediawiki-db --network catnet-mediawiki --network-alias db --memory 512m \
    -e POSTGRES_DB=mediawiki -e POSTGRES_USER=mediawiki \
    -v cat-mw-secrets:/run/secrets:ro -v cat-mw-data:/var/lib/postgresql/data localhost/catalog/mediawiki-db:test
  for i in $(seq 1 30); do b exec cat-mediawiki-db pg_isready -q -h 127.0.0.1 >/dev/null 2>&1 && break; sleep 1; done
  check "mediawiki: db health (pg_isready -q -h 127.0.0.1)" b exec cat-mediawiki-db pg_isready -q -h 127.0.0.1
  run --name cat-mediawiki-web --network catnet-mediawiki --network-alias web --memory 256m \
    -e MEDIAWIKI_DB_HOST=db -e MEDIAWIKI_DB_NAME=mediawiki -e MEDIAWIKI_DB_USER=mediawiki \
    -e 'MEDIAWIKI_NAME=Club Wiki' -e MEDIAWIKI_ADMIN=Admin \
    -v cat-mw-secrets:/run/secrets:ro -v cat-mw-images:/var/lib/mediawiki/images \
    -p 127.0.0.1:18085:80 localhost/catalog/mediawiki-web:test
  check "mediawiki: Main_Page 200" wait_http http://127.0.0.1:18085/index.php/Main_Page 120
  curl -s http://127.0.0.1:18085/index.php/Main_Page > $T/mw.html
  check "mediawiki: the installed wiki's main page" has $T/mw.html 'MediaWiki has been installed'
  check "mediawiki: its name" has $T/mw.html '<title>Club Wiki</title>'
  J=$T/mwjar; rm -f $J; A=http://127.0.0.1:18085/api.php
  lt=$(curl -s -c $J -b $J "$A?action=query&meta=tokens&type=login&format=json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["query"]["tokens"]["logintoken"])')
  check "mediawiki: the administrator logs in with the secret" sh -c "curl -s -c $J -b $J --data-urlencode 'lgtoken=$lt' --data-urlencode lgname=Admin --data-urlencode 'lgpassword=$apw' '$A?action=login&format=json' | grep -q '\"result\":\"Success\"'"
  ct=$(curl -s -c $J -b $J "$A?action=query&meta=tokens&format=json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["query"]["tokens"]["csrftoken"])')
  check "mediawiki: an edit" sh -c "curl -s -c $J -b $J --data-urlencode 'token=$ct' --data-urlencode 'title=Catalog test' --data-urlencode \"text=Written by the '''catalog''' check.\" '$A?action=edit&format=json' | grep -q '\"result\":\"Success\"'"
  check "mediawiki: the edited page" sh -c "curl -s http://127.0.0.1:18085/index.php/Catalog_test | grep -q 'Written by the <b>catalog</b> check.'"
  check "mediawiki: web health (http-check with the API query)" b exec cat-mediawiki-web sh -c "http-check 80 '/api.php?action=query&meta=siteinfo&format=json'"
  check "mediawiki: backup hook Before (pg_dumpall)" b exec cat-mediawiki-db sh -c \
    'setpriv --reuid=postgres --regid=postgres --init-groups pg_dumpall --clean --if-exists --file=/var/lib/postgresql/data/dump.sql'
  check "mediawiki: the dump holds the edit" grep -q "catalog''' check" "$ROOT/volumes/cat-mw-data/_data/dump.sql"
  check "mediawiki: backup hook After" b exec cat-mediawiki-db rm -f /var/lib/postgresql/data/dump.sql
  check "mediawiki: update hook (update.php --quick)" b exec cat-mediawiki-web setpriv --reuid=www-data --regid=www-data --init-groups php /usr/share/mediawiki/maintenance/update.php --quick
  b restart cat-mediawiki-db >/dev/null; sleep 2; b restart cat-mediawiki-web >/dev/null
  check "mediawiki: the page after restarts (no second install)" sh -c "for i in \$(seq 1 60); do curl -s http://127.0.0.1:18085/index.php/Catalog_test | grep -q 'catalog</b> check' && exit 0; sleep 1; done; exit 1"
  check "mediawiki: installed once" sh -c "test \$('$B' --root '$ROOT' logs cat-mediawiki-web 2>&1 | grep -c 'making the wiki') = 1"
fi

echo "RESULT $pass passed, $fail failed"
