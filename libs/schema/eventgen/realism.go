package eventgen

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
)

// profile makes the events of one log type coherent: it chooses the values
// of the fields it knows, leaving out those that do not apply to the event
// (an order id on a product view). Fields it does not know, such as ones a
// newer version adds, are generated from the definition.
type profile struct {
	known  []string
	values func(d *draw) map[string]any
}

func (p *profile) knows(field string) bool {
	return p != nil && slices.Contains(p.known, field)
}

var profiles = map[string]*profile{
	"user_action": {
		known: []string{"source", "action", "channel", "user_id", "session_id", "product_id", "cart_id",
			"order_id", "quantity", "amount_cents", "currency", "app_version", "attributes"},
		values: userAction,
	},
	"seller_action": {
		known: []string{"source", "action", "seller_id", "session_id", "product_id", "order_id",
			"package_id", "old_status", "new_status", "stock", "attributes"},
		values: sellerAction,
	},
}

var (
	sources    = map[string]string{"web": "web-frontend", "app": "mobile-api", "whatsapp": "whatsapp-bot"}
	userAgents = []string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
	}
	devices   = []string{"Pixel 8", "iPhone 15", "Galaxy S24", "iPhone 13"}
	countries = []string{"NL", "DE", "FR", "BR", "IN"}
	queries   = []string{"running shoes", "usb-c cable", "coffee beans", "phone case", "desk lamp"}
	// lifecycle is the order a package's status normally goes through.
	lifecycle = []string{"created", "packed", "shipped", "in_transit", "delivered"}
)

// hexID returns prefix-xxxxxxxx from r.
func hexID(prefix string, r *rand.Rand) string {
	return fmt.Sprintf("%s-%08x", prefix, r.Uint32())
}

// userAction is one step of a customer session: search, view, add to cart
// (or remove again), then confirm and order (or fail to pay), or cancel.
// Everything about the session (user, channel, cart, products, prices and
// the outcome) is drawn from the session's source, so its events agree.
func userAction(d *draw) map[string]any {
	s := d.sess
	def, _ := d.def.Field("channel")
	channel := def.Enum[s.IntN(len(def.Enum))]
	user := d.actor("user_id")
	m := map[string]any{
		"source":     cmp.Or(sources[channel], channel+"-frontend"),
		"channel":    channel,
		"user_id":    user,
		"session_id": hexID("sess", s),
	}
	attrs := map[string]any{"ip_country": countries[s.IntN(len(countries))]}
	switch channel {
	case "web":
		attrs["user_agent"] = userAgents[s.IntN(len(userAgents))]
		attrs["referrer"] = fmt.Sprintf("https://shop.example/category/%d?page=%d", s.IntN(40), 1+s.IntN(5))
	case "app":
		attrs["device"] = devices[s.IntN(len(devices))]
		m["app_version"] = fmt.Sprintf("4.%d.%d", s.IntN(3), s.IntN(10))
	}
	m["attributes"] = attrs

	type line struct {
		product         string
		quantity, price int64
	}
	var lines [3]line
	for i := range lines {
		lines[i] = line{fmt.Sprintf("p-%04d", s.IntN(500)), int64(1 + s.IntN(3)), int64(199 + s.IntN(5000))}
	}
	cart := hexID("cart", s)
	removed := s.IntN(4) == 0 // the second step of the cart removes the first line
	confirmed := !removed && s.IntN(10) < 6
	paid := s.IntN(10) < 9
	order := hexID("o", s)
	total := lines[0].quantity*lines[0].price + lines[1].quantity*lines[1].price

	cartLine := func(action string, l line) {
		m["action"], m["product_id"], m["cart_id"] = action, l.product, cart
		m["quantity"], m["amount_cents"], m["currency"] = l.quantity, l.quantity*l.price, "EUR"
	}
	switch d.pos {
	case 0:
		m["action"] = "product_searched"
		attrs["query"] = queries[d.ev.IntN(len(queries))]
	case 1:
		m["action"], m["product_id"] = "product_viewed", lines[0].product
	case 2:
		cartLine("added_to_cart", lines[0])
	case 3:
		if removed {
			cartLine("removed_from_cart", lines[0])
		} else {
			cartLine("added_to_cart", lines[1])
		}
	case 4:
		m["cart_id"] = cart
		if confirmed {
			m["action"], m["amount_cents"], m["currency"] = "cart_confirmed", total, "EUR"
		} else {
			m["action"] = "cart_cancelled"
			attrs["reason"] = []string{"too_expensive", "changed_mind", "delivery_time"}[d.ev.IntN(3)]
		}
	default:
		if !confirmed {
			m["action"], m["product_id"] = "product_viewed", lines[2].product
			break
		}
		m["cart_id"], m["order_id"], m["amount_cents"], m["currency"] = cart, order, total, "EUR"
		m["action"] = "order_placed"
		if !paid {
			m["action"] = "payment_failed"
			attrs["reason"] = "card_declined"
		}
	}
	return m
}

// sellerAction is one action of a seller's dashboard session.
func sellerAction(d *draw) map[string]any {
	seller := d.actor("seller_id")
	m := map[string]any{"source": "seller-dashboard", "seller_id": seller, "session_id": hexID("dash", d.sess)}
	r := d.ev
	product := fmt.Sprintf("p-%04d", r.IntN(500))
	switch n := r.IntN(20); {
	case n < 7:
		i := r.IntN(len(lifecycle) - 1)
		m["action"], m["package_id"] = "package_status_updated", hexID("pkg", r)
		m["old_status"], m["new_status"] = lifecycle[i], lifecycle[i+1]
	case n < 11:
		m["action"], m["product_id"], m["stock"] = "stock_updated", product, int64(r.IntN(500))
	case n < 14:
		m["action"], m["product_id"] = "product_updated", product
		m["attributes"] = map[string]any{"changed": []string{"price", "title", "images"}[:1+r.IntN(3)]}
	case n < 15:
		m["action"], m["product_id"], m["stock"] = "product_created", product, int64(r.IntN(100))
	case n < 19:
		m["action"], m["order_id"] = "order_accepted", hexID("o", r)
	default:
		m["action"], m["order_id"] = "order_rejected", hexID("o", r)
		m["attributes"] = map[string]any{"reason": []string{"out_of_stock", "address_invalid"}[r.IntN(2)]}
	}
	return m
}
