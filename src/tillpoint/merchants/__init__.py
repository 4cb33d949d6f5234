"""Merchants, shops, applications and review, fee plans and limits."""
