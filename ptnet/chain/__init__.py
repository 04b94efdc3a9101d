"""`ptnet chain`: NFV chains of VMs wired with netmap ports (lifecycle, traffic, validation)."""
