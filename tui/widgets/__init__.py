"""The lab console's widgets: catalog, form, plot, status and log."""
