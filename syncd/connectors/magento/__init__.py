"""Magento 2 REST connector (MSI and legacy stock) and emulator."""
