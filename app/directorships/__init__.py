"""Who directs which clinic: the engagement records (the contract, its directors and their
dates and capacity, the searches for a replacement or a standing backup) that matching reads
and the engagement's lifecycle (`app.engagements`) changes. Records and queries only; the rules
of an engagement's life live in `app.engagements`."""
