#!/usr/bin/env bash
# The banned-function list is enforced as a test, so CI fails on it.
exec "$SP_SOURCE_DIR/scripts/checksrc.sh"
