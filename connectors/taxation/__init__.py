"""Taxation (税务) penalty system: a SOAP/XML web service, read through its WSDL with zeep."""
