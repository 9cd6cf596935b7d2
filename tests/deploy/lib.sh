# Helpers shared by the tests/deploy scripts (sourced).
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }
# Keys a binary knows: the lines `key = ...` or `# key = ...` of --print-config.
config_keys() { sed -n -E 's/^(# )?([a-z0-9-]+) = .*/\2/p' | sort -u; }
