#!/usr/bin/env bash
# Debian packages the tests need. Installed when run as root (CI), named otherwise.
set -euo pipefail
# One "command:package" entry per tool the tests use.
# chromium: tests/test_book_site.py drives the website in Debian's headless Chromium.
# bwrap: the autograder runs every student's code in a bubblewrap sandbox (tests/test_autograde_*.py).
REQUIRED=("chromium:chromium" "bwrap:bubblewrap")
NEEDED=()
for entry in "${REQUIRED[@]}"; do
  cmd=${entry%%:*}; pkg=${entry#*:}
  command -v "$cmd" >/dev/null 2>&1 || NEEDED+=("$pkg")
done
[ ${#NEEDED[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian packages the tests need: ${NEEDED[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${NEEDED[@]}" >/dev/null
else
  echo "The tests need these Debian packages: ${NEEDED[*]}" >&2
  echo "Install them with: sudo apt-get install ${NEEDED[*]}" >&2
  exit 1
fi
