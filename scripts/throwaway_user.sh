# Sourced by scripts/check_nonroot.sh and scripts/check_up_nosudo.sh (as root): a throwaway OS
# user that clones this repository and runs its documented commands as a new user would, with
# only the machine's network settings passed through, and is removed with its files at exit.
#   throwaway_user_create NAME        useradd (retried: another tool may hold /etc/passwd)
#   throwaway_user_seed_uv_cache DIR  the user's uv cache starts as hard links to DIR's files
#   as_user 'command'                 a login-like shell of the user (runuser: no sudo needed)
#   throwaway_user_cleanup            its processes, home, clone and pytest folder

THROWAWAY_PASS=()
for name in SSL_CERT_FILE SSL_CERT_DIR REQUESTS_CA_BUNDLE CURL_CA_BUNDLE PIP_CERT PIP_FIND_LINKS \
  HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  [ -n "${!name:-}" ] && THROWAWAY_PASS+=("$name=${!name}")
done

throwaway_user_create() {
  THROWAWAY_USER=$1
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    useradd --create-home --shell /bin/bash "$THROWAWAY_USER" && return 0
    [ "$attempt" = 10 ] && return 1
    sleep 3
  done
}

throwaway_user_seed_uv_cache() {
  # uv's unpacked wheels (archive-v0, the GBs, never written to once made) as hard links:
  # seconds, the files stay root's and read-only to the user, the folders are the user's. The
  # rest (indexes, markers uv rewrites: MBs) as the user's own copy.
  local seed=$1 cache="/home/$THROWAWAY_USER/.cache/uv"
  [ -d "$seed" ] || return 0
  mkdir -p "$cache"
  for entry in "$seed"/* "$seed"/.[!.]*; do
    [ -e "$entry" ] || continue
    case "$(basename "$entry")" in
      archive-v*) cp -al "$entry" "$cache/" ;;
      .lock) ;;
      *) cp -a "$entry" "$cache/" && chown -R "$THROWAWAY_USER:" "$cache/$(basename "$entry")" ;;
    esac
  done
  find "/home/$THROWAWAY_USER/.cache" -type d -exec chown "$THROWAWAY_USER:" {} +
}

as_user() {
  runuser -u "$THROWAWAY_USER" -- env -i HOME="/home/$THROWAWAY_USER" USER="$THROWAWAY_USER" \
    PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8 "${THROWAWAY_PASS[@]}" bash -c "$1"
}

throwaway_user_cleanup() {
  [ -n "${THROWAWAY_USER:-}" ] || return 0
  pkill -u "$THROWAWAY_USER" 2>/dev/null || true
  sleep 3
  pkill -KILL -u "$THROWAWAY_USER" 2>/dev/null || true
  rm -f "/etc/sudoers.d/$THROWAWAY_USER"
  userdel -r "$THROWAWAY_USER" 2>/dev/null || true
  rm -rf "/tmp/$THROWAWAY_USER" "/tmp/pytest-of-$THROWAWAY_USER"
}
