"""The portal's forms, by page: ``identity``, ``binding``, ``organisations``, ``org_accounts``."""
