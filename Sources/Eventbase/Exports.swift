@_exported public import EventbaseCore
