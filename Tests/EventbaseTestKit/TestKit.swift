public import EventbaseCore
