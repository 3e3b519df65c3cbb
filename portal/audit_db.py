def install_connection_hooks():
    return None
