"""Reaching inside ptnet guests: SSH with pinned keys, and pkt-gen runs."""
