"""Orchestration of one VM: lifecycle (plan, up to ready, down), hot-plug, console, validation."""
