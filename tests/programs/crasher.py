#!/usr/bin/env python3
"""Exits with CODE after SECONDS.

usage: crasher.py SECONDS CODE [MARKER...]
"""
import sys
import time

print("crasher running", flush=True)
time.sleep(float(sys.argv[1]))
print(f"crasher exiting with {sys.argv[2]}", file=sys.stderr, flush=True)
sys.exit(int(sys.argv[2]))
