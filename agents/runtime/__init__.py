"""Every workaround over faust-streaming, aiokafka and mode internals, each with the reason it
answers. Nothing else in ``agents`` touches a private member of those libraries."""
