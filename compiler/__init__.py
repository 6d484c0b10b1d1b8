"""The compiler: resolution, checks, domain analysis, planning and emitters. Never runs a process."""
