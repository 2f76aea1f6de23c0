"""PrestaShop webservice connector and emulator."""
