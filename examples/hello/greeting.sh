#!/bin/sh
# What the build produces; change the text, push, and watch the pipeline run again.
echo "Hello from Sluice, built from commit $(cat VERSION 2>/dev/null || echo unknown)"
