from tests.redis_store.redis_server import redis_server

__all__ = ["redis_server"]
